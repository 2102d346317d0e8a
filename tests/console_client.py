"""A browser-like HTTP client for the console's tests: a cookie jar, no automatic redirects
(the tests look at them), and the CSRF token of the last page read."""
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class Browser:
    def __init__(self, url):
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect)
        self.csrf = None
        self.headers = {}

    def request(self, method, path, form=None, headers=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        h = {"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with self.opener.open(req, timeout=20) as r:
                status, headers, body = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read()
        self.headers = headers
        text = body.decode("utf-8", "replace")
        m = _CSRF.search(text)
        if m:
            self.csrf = m.group(1)
        return status, text

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, form, csrf=True):
        """Post a form, with the CSRF token of the last page read unless csrf=False."""
        return self.request("POST", path, dict(form, **({"csrf": self.csrf} if csrf else {})))

    def login(self, name, password):
        self.get("/login")
        return self.post("/login", {"name": name, "password": password, "next": "/"})
