// The meter page's script: keeps the server-rendered page live by copying /api/live's
// display view into the elements of the same id, refreshes the meter-drawn charts, the
// top-ups and the events, and submits top-ups without a reload. Without it the page still
// works (forms post). Every word comes from the meter in the page's language (the lang
// cookie goes with each request; the script's own two phrases are data-* of <body>).
'use strict';
var $ = function (id) { return document.getElementById(id); };
var say_ = document.body.dataset;
var lockEnd = 0, failed = 0;

function put(t) {
  for (var k in t) {
    var v = t[k], e;
    if (k.slice(-2) === '_c') { e = $(k.slice(0, -2)); if (e) e.className = v; }
    else if (k.slice(-2) === '_h') { e = $(k.slice(0, -2)); if (e && k !== 'lock_h') e.hidden = v; }
    else if (k !== 'lock' && (e = $(k))) e.textContent = v;
  }
}

function api(path, body) {
  var o = { cache: 'no-store' };
  if (body !== undefined) {
    o.method = 'POST';
    o.headers = { 'Content-Type': 'application/json' };
    o.body = JSON.stringify(body);
  }
  return fetch(path, o).then(function (r) { return r.json(); });
}

function locked(s, text) {
  lockEnd = Date.now() + s * 1000;
  $('lock').textContent = text;
  tick();
}

function tick() {
  var s = Math.ceil((lockEnd - Date.now()) / 1000), l = $('lock');
  l.hidden = s <= 0;
  $('go').disabled = s > 0;
  if (s > 0) l.textContent = l.textContent.replace(/\d+ s/, s + ' s');
}

function live() {
  if (document.hidden) return;
  api('/api/live').then(function (d) {
    failed = 0;
    put(d.text);
    var s = d.credit ? d.credit.lockout_s || 0 : 0;
    if (s && Math.abs(Date.now() + s * 1000 - lockEnd) > 2500) locked(s, d.text.lock);
  }).catch(function () {
    if (++failed > 1) $('stat').textContent = say_.offline;
  });
}

function list(id, items) {
  var ul = $(id);
  if (!items.length) return;  // keep the server's "none yet" line
  ul.textContent = '';
  items.forEach(function (e) {
    var li = document.createElement('li'), t = document.createElement('time');
    t.textContent = e.at;
    li.appendChild(t);
    li.appendChild(document.createTextNode(e.text));
    ul.appendChild(li);
  });
}

function history() {
  [['day', 'day'], ['mon', 'month']].forEach(function (c) {
    fetch('/api/chart?span=' + c[1], { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.text() : ''; })
      .then(function (s) { if (s.slice(0, 7) === '<figure') $(c[0]).innerHTML = s; });
  });
  api('/api/events?n=8').then(function (evs) { list('events', evs); });
  api('/api/topups').then(function (tus) { list('topups', tus); });
}

function say(r) {
  var m = $('msg');
  m.textContent = r.message;
  m.className = 'msg ' + (r.ok ? 'ok' : 'warn');
  m.hidden = !!r.locked_s;  // the lock box below the field shows it, counting down
  if (r.locked_s) locked(r.locked_s, r.message);
  live();
  history();
}

function post(form, path, body) {
  $(form).addEventListener('submit', function (ev) {
    ev.preventDefault();
    api(path, body ? body() : {}).then(say).catch(function () {
      say({ message: say_.retry, result: 'error' });
    });
  });
}

post('topup', '/api/token', function () {
  var c = $('code'), v = c.value.replace(/\D/g, '');
  c.value = '';
  return { code: v };
});
post('emform', '/api/emergency');
post('conform', '/api/confirm');
setInterval(live, 2000);
setInterval(history, 60000);
setInterval(tick, 1000);
document.addEventListener('visibilitychange', live);
live();
