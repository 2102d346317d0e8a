// Owner settings: log in with the PIN (the session token lives in this tab only and goes in
// an Authorization header, never a cookie), then load, edit and save settings as JSON.
// Its words are the page's language: data-* of <body> (host_tools/webassets.py fills them
// from the catalogue), and the meter answers in the same language (the lang cookie).
'use strict';
var $ = function (id) { return document.getElementById(id); };
var say_ = document.body.dataset;
var tok = sessionStorage.getItem('tok') || '';

function say(r) {
  var m = $('msg');
  m.textContent = r.message || r.error || say_.done;
  m.className = 'msg ' + (r.ok ? 'ok' : 'bad');
  m.hidden = false;
  m.scrollIntoView({ block: 'nearest' });
}

function api(name, body) {
  var o = { cache: 'no-store', headers: { Authorization: 'Bearer ' + tok } };
  if (body !== undefined) {
    o.method = 'POST';
    o.headers['Content-Type'] = 'application/json';
    o.body = JSON.stringify(body);
  }
  return fetch('/api/admin/' + name, o).then(function (r) {
    return r.json().then(function (d) {
      if (r.status === 401) show(false);
      return d;
    });
  }).catch(function () { return { message: say_.retry }; });
}

function show(on) {
  $('login').hidden = on;
  $('admin').hidden = !on;
  if (!on) { tok = ''; sessionStorage.removeItem('tok'); }
}

function load() {
  api('settings').then(function (d) {
    if (!d.edit) return;
    show(true);
    for (var k in d.edit) {
      var e = document.querySelector('[name="' + k + '"]');
      if (e) e.value = d.edit[k];
    }
    for (var s in d.secrets) $(s).textContent = d.secrets[s] ? say_.set : say_.unset;
    $('tariff').textContent = JSON.stringify({ tariff: d.tariff, policy: d.view }, null, 1);
    // the stored config's problems, in the page's language (the meter says them)
    var ul = $('problist');
    ul.textContent = '';
    d.problems.forEach(function (t) {
      var li = document.createElement('li');
      li.textContent = t;
      ul.appendChild(li);
    });
    $('problems').hidden = !d.problems.length;
    $('relaynow').textContent = say_[(d.relay.closed ? 'on' : 'off') +
      (d.relay.manual === null || d.relay.manual === undefined ? 'auto' : 'man')];
    if (d.restart_needed) say({ ok: true, message: say_.wait });
  });
}

$('f-login').addEventListener('submit', function (ev) {
  ev.preventDefault();
  api('login', { pin: $('pin').value }).then(function (r) {
    $('pin').value = '';
    if (r.session) {
      tok = r.session;
      sessionStorage.setItem('tok', tok);
      $('msg').hidden = true;
      load();
    } else say(r);
  });
});

Array.prototype.forEach.call(document.querySelectorAll('form.set'), function (f) {
  f.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var s = {}, bad = '';
    Array.prototype.forEach.call(f.querySelectorAll('input'), function (e) {
      var v = e.value.trim(), t = e.getAttribute('data-t');
      if (e.type === 'password' && !v) return;
      if (t) {
        v = Number(v);
        if (v !== v || (t === 'int' && v % 1)) bad = say_[t === 'int' ? 'int' : 'num'].replace('%s', e.name);
      }
      s[e.name] = v;
    });
    if (bad) return say({ message: say_.notsaved.replace('%s', bad) });
    api('settings', { settings: s }).then(say);
  });
});

['f-relay', 'f-pin', 'f-restart', 'f-logout'].forEach(function (id) {
  var f = $(id);
  f.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var b = {};
    Array.prototype.forEach.call(f.querySelectorAll('input,select'), function (e) { b[e.name] = e.value; });
    api(f.getAttribute('data-api'), b).then(function (r) {
      say(r);
      if (id === 'f-logout') show(false); else if (id === 'f-relay') load();
    });
  });
});

if (tok) load();
