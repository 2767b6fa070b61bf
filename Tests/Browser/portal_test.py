#!/usr/bin/env python3
"""The customer portal and the operator dashboard in a real browser (headless Chromium, Selenium).

Run by Tests/CertVaultServerTests/BrowserTests.swift, which starts the service on loopback with the
VB365 simulator, a vault in a temporary folder, invitations and tokens, and names a JSON file (mode
0600: it holds tokens, so they never appear in argv) in $CERTVAULT_BROWSER_CONFIG:

    {"base": "http://127.0.0.1:PORT",            the service (the portal's public URL)
     "simulator": "https://127.0.0.1:PORT",      the VB365 simulator; its control surface
     "simulatorCA": "/tmp/.../ca.pem",             /_simulator/... signs the customer in
     "pollSeconds": 1,                            [portal] status_poll_seconds
     "workerPollSeconds": 1,                      the onboarding worker's DeviceCode/check interval
     "links": {"happy": URL, "expiry": URL, "failure": URL, "renewal": URL, "nojs": URL,
               "revoked": URL, "expired": URL, "unknown": URL, "bench": [URL, ...]},
     "tokens": {"admin": TOKEN, "reader": TOKEN},
     "tenants": {"happy": ID, "onboarded": ID, "invite": ID, "nojs": ID},
     "screenshots": FOLDER or null,
     "results": FILE}

The Python side drives the simulator itself (POST /_simulator/sign-in, /expire-codes, /faults) at
the moment the page is ready for it. Every check prints "PASS name" or "FAIL name: why" and lands
in the results file ({"checks": [{"name", "passed", "detail"}], "figures": {...}}), which the Swift
test turns into one expectation per check; the exit status is 1 when any check failed.

`--bench` measures instead (nothing asserted): the weight (bytes on the wire with headers, browser
cache off; requests) and first contentful paint of each customer page, and the time from the simulator's sign-in to "Connected", once per
link in links.bench.
"""

import json
import os
import re
import ssl
import statistics
import sys
import time
import traceback
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser, SIZES, missing_tools  # noqa: E402

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# Typed into every field and returned in a VB365 error message: must come back as text.
PAYLOAD = "\"'><script>window.__cvXss=1</script><img src=x onerror=\"window.__cvXss=2\"><b id=\"cv-xss\">x</b>"
TEXT_FIELDS = ["organization", "contact_name", "contact_email"]
SERVICES = ["service_exchange", "service_sharepoint", "service_teams", "service_teams_chats"]


class Checks:
    """Named checks: printed at once, collected for the results file."""

    def __init__(self):
        self.items = []
        self.figures = {}

    def check(self, name, passed, detail=""):
        passed = bool(passed)
        self.items.append({"name": name, "passed": passed, "detail": "" if passed else str(detail)})
        print(("PASS " if passed else "FAIL ") + name + ("" if passed else f": {detail}"), flush=True)
        return passed

    def scenario(self, name, body):
        """Runs one scenario; an exception fails it (with the traceback's tail) and the rest go on."""
        started = time.time()
        try:
            body()
        except Exception as error:  # noqa: BLE001 - a scenario's crash is its failure
            tail = "".join(traceback.format_exception(error)[-3:])
            self.check(f"{name}: runs to its end", False, f"{type(error).__name__}: {error}\n{tail}")
        print(f"  ({name}: {time.time() - started:.1f} s)", flush=True)

    @property
    def failed(self):
        return [item for item in self.items if not item["passed"]]


class Portal:
    """The pages under test, the simulator's control surface, and the browser."""

    def __init__(self, config, browser, checks):
        self.config = config
        self.base = config["base"].rstrip("/")
        self.b = browser
        self.checks = checks
        self.shots = config.get("screenshots")
        if self.shots:
            os.makedirs(self.shots, exist_ok=True)
        self.context = ssl.create_default_context(cafile=config["simulatorCA"]) if config.get("simulatorCA") else None
        self.documents = []  # (url, status, headers) of every HTML page shown

    # The simulator --------------------------------------------------------------------------------

    def simulator(self, path, body):
        request = urllib.request.Request(self.config["simulator"].rstrip("/") + "/_simulator/" + path,
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    # Navigation ------------------------------------------------------------------------------------

    def open(self, url):
        """Loads `url` and returns the status of the page's document."""
        self.b.driver.get(url)
        return self.settle()

    def settle(self):
        """After a navigation: records the documents loaded, returns the last one's status."""
        self.b.wait(lambda: self.b.js("return document.readyState") == "complete", what="the page to load")
        _, responses, _ = self.b.drain()
        documents = [r for r in responses if r["type"] == "Document"]
        for response in documents:
            self.documents.append((response["url"], response["status"], response["headers"]))
        return documents[-1]["status"] if documents else None

    def path(self):
        return urllib.parse.urlsplit(self.b.driver.current_url).path

    def shoot(self, name):
        """Screenshots the current page at both widths (docs/portal/NAME-375.png, NAME-1280.png)."""
        for size, (width, _, _) in SIZES.items():
            self.b.size(size)
            time.sleep(0.15)
            # A page wider than the screen scrolls sideways on a phone (and the screenshot shows it).
            wide = self.b.js("return document.documentElement.scrollWidth")
            self.checks.check(f"{name} at {width} px: no sideways scrolling", wide <= width, f"{wide} px wide")
            if self.shots:
                self.b.screenshot(os.path.join(self.shots, f"{name}-{size}.png"))
        self.b.size("1280")

    def submit(self, form_id):
        """Submits a form with its own button, as a person would, and waits for the next page."""
        button = self.b.css(f"form#{form_id} button[type=submit], form#{form_id} button:not([type])")
        old = self.b.js("return document.documentElement")
        (button[0] if button else self.b.by_id("submit")).click()
        self.b.wait(lambda: self.b.js("return document.documentElement") != old
                    and self.b.js("return document.readyState") == "complete", what=f"the answer to #{form_id}")
        return self.settle()

    def fill(self, values, services=("service_exchange", "service_sharepoint")):
        """Types `values` into the intake form's fields and ticks `services`."""
        from selenium.webdriver.support.ui import Select
        for name, value in values.items():
            field = self.b.by_id(name)
            if field is None:
                continue
            field.clear()
            field.send_keys(value)
        region = self.b.by_id("region")
        if region is not None:
            options = [o.get_attribute("value") for o in Select(region).options if o.get_attribute("value")]
            if options and not region.get_attribute("value"):
                Select(region).select_by_value(options[0])
        for name in SERVICES:
            box = self.b.by_id(name)
            if box is not None and box.is_selected() != (name in services):
                box.click()

    def extra_fields(self):
        return [e.get_attribute("id") for e in self.b.css("form#intake input[id^=extra_]")]

    def valid_values(self, organization):
        values = {"organization": organization, "contact_name": "Dana Example",
                  "contact_email": "dana@example.com"}
        for name in self.extra_fields():
            values[name] = "PO-4711"
        return values

    def text(self, element_id):
        element = self.b.by_id(element_id)
        return element.text if element is not None else None

    def no_injection(self, name):
        """Nothing the payload carries ran or became an element."""
        check = self.checks.check
        check(f"{name}: no alert opened", self.b.alert_text() is None)
        check(f"{name}: no element made from the text", not self.b.css("#cv-xss"))
        check(f"{name}: no script ran", self.b.js("return window.__cvXss === undefined"))
        check(f"{name}: no inline script in the page", not self.b.css("script:not([src])"),
              [s.get_attribute("outerHTML")[:200] for s in self.b.css("script:not([src])")])

    # Scenarios -------------------------------------------------------------------------------------

    def not_found(self):
        """Unknown, revoked, expired invitation: 404, the plain page, identical bytes."""
        check = self.checks.check
        bodies = {}
        for kind in ["unknown", "revoked", "expired"]:
            link = self.config["links"][kind]
            for suffix in ["", "/sign-in", "/done", "/status"]:
                status = self.open(link + suffix)
                check(f"{kind} invitation{suffix}: answers 404", status == 404, status)
            status = self.open(link)
            check(f"{kind} invitation: the plain page #not-found", self.b.by_id("not-found") is not None)
            check(f"{kind} invitation: no form, no code", not self.b.css("form#intake, #user-code, #start-renewal"))
            bodies[kind] = raw_get(link)[1]
        check("unknown, revoked and expired invitations: identical bytes", len(set(bodies.values())) == 1,
              {k: len(v) for k, v in bodies.items()})
        self.shoot("not-found")

    def form_errors(self):
        """Empty form: every error beside its field, with aria-invalid and aria-describedby."""
        check = self.checks.check
        status = self.open(self.config["links"]["happy"])
        check("welcome page: answers 200", status == 200, status)
        check("welcome page: form#intake posts to the page", self.b.css("form#intake[method=post]")
              and self.b.css("form#intake")[0].get_attribute("action") == self.b.driver.current_url)
        for name in TEXT_FIELDS + ["region"] + SERVICES:
            check(f"welcome page: field {name} has a label", self.b.js(
                "const f = document.getElementById(arguments[0]); return !!f && f.labels.length > 0 "
                "&& f.labels[0].textContent.trim().length > 0", name))
        check("welcome page: hidden csrf field", self.b.css("form#intake input[type=hidden][name=csrf]"))
        self.shoot("onboard-form")
        for name in TEXT_FIELDS:
            self.b.by_id(name).clear()
        for name in SERVICES:
            box = self.b.by_id(name)
            if box is not None and box.is_selected():
                box.click()
        # The browser's own validation (required, type=email) would stop an empty form before the
        # server sees it; the server's messages are what is tested here.
        self.b.js("document.getElementById('intake').noValidate = true")
        status = self.submit("intake")
        check("empty form: answered with the form again (no redirect)", self.path().endswith(
            urllib.parse.urlsplit(self.config["links"]["happy"]).path), self.path())
        check("empty form: summary #form-errors at the top", self.b.by_id("form-errors") is not None
              and self.b.by_id("form-errors").is_displayed())
        for name in ["organization", "contact_name", "contact_email"]:
            error = self.b.by_id(f"error-{name}")
            check(f"empty form: error-{name} shown", error is not None and error.is_displayed()
                  and "field-error" in (error.get_attribute("class") or "") and error.text.strip())
            field = self.b.by_id(name)
            check(f"empty form: {name} aria-invalid and aria-describedby", field is not None
                  and field.get_attribute("aria-invalid") == "true"
                  and f"error-{name}" in (field.get_attribute("aria-describedby") or "").split())
            check(f"empty form: error-{name} beside its field", self.b.js(
                "const f = document.getElementById(arguments[0]), e = document.getElementById('error-' + arguments[0]);"
                "if (!f || !e) return false;"
                "const a = f.getBoundingClientRect(), b = e.getBoundingClientRect();"
                "return Math.min(Math.abs(b.top - a.bottom), Math.abs(a.top - b.bottom)) < 80"
                " && f.parentElement.parentElement.contains(e)", name))
        self.shoot("onboard-form-errors")

    def injection(self):
        """`<script>` and quotes typed into every field come back as text."""
        check = self.checks.check
        self.open(self.config["links"]["happy"])
        fields = TEXT_FIELDS + self.extra_fields()
        self.b.js("document.getElementById('intake').noValidate = true")
        self.fill({name: PAYLOAD for name in fields})
        self.submit("intake")
        check("script typed into every field: the form comes back with errors", self.b.by_id("form-errors") is not None)
        self.no_injection("script typed into every field")
        for name in fields:
            field = self.b.by_id(name)
            value = field.get_attribute("value") if field is not None else None
            # The field's maxlength or the server may shorten it; what comes back is the text as typed.
            check(f"script typed into {name}: comes back as the text typed (or part of it)",
                  value is not None and PAYLOAD.startswith(value), repr(value))

    def happy_path(self):
        """Keyboard only: fill and submit; the code; the simulator signs in; "Connected" in place."""
        check = self.checks.check
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys
        link = self.config["links"]["happy"]
        self.open(link)
        values = self.valid_values(f"{self.config['tenants']['happy']}.onmicrosoft.com")
        self.b.js("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()")
        filled, unfocused, submitted = set(), [], False
        for _ in range(80):
            ActionChains(self.b.driver).send_keys(Keys.TAB).perform()
            element = self.b.driver.switch_to.active_element
            ident = element.get_attribute("id") or element.tag_name
            visible = self.b.js(
                "const s = getComputedStyle(arguments[0]);"
                "return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'",
                element)
            if not visible:
                unfocused.append(ident)
            if ident in values and ident not in filled:
                element.send_keys(values[ident])
                filled.add(ident)
            elif ident in ("service_exchange", "service_sharepoint") and not element.is_selected():
                element.send_keys(Keys.SPACE)
            elif ident == "submit" and self.b.css("form#intake #submit"):
                old = self.b.js("return document.documentElement")
                element.send_keys(Keys.ENTER)
                self.b.wait(lambda: self.b.js("return document.documentElement") != old
                            and self.b.js("return document.readyState") == "complete", what="the sign-in page")
                self.settle()
                submitted = True
                break
        check("keyboard: every field reached with Tab and filled", filled == set(values), set(values) - filled)
        check("keyboard: the form submitted with Enter on #submit", submitted)
        check("keyboard: focus is visible on every element Tab reaches", not unfocused, unfocused)
        check("after the form: the sign-in page", self.path().endswith("/sign-in"), self.path())

        code = (self.text("user-code") or "").strip()
        check("sign-in page: the user code as text", re.fullmatch(r"[A-Z0-9-]{6,}", code), repr(code))
        check("sign-in page: a copy button", self.b.by_id("copy-code") is not None)
        verification = self.b.by_id("open-verification")
        href = verification.get_attribute("href") if verification is not None else None
        check("sign-in page: the verification link opens Microsoft's page in a new tab",
              href == "https://microsoft.com/devicelogin" and verification.get_attribute("target") == "_blank"
              and {"noopener", "noreferrer"} <= set((verification.get_attribute("rel") or "").split()), href)
        countdown = self.b.by_id("countdown")
        expires = countdown.get_attribute("data-expires-at") if countdown is not None else None
        check("sign-in page: a countdown to the code's expiry", expires and re.match(r"\d{4}-\d\d-\d\dT", expires), expires)
        status = self.b.by_id("status")
        check("sign-in page: status awaiting the customer", status is not None
              and status.get_attribute("data-state") == "awaiting-customer",
              status.get_attribute("data-state") if status is not None else None)
        check("sign-in page: the Conditional Access note", self.b.by_id("conditional-access-note") is not None)
        check("sign-in page: a no-JavaScript refresh", re.search(r"<meta[^>]+http-equiv=[\"']?refresh",
                                                              self.b.driver.page_source, re.I))
        self.shoot("onboard-sign-in")

        connected = self.connected_after_sign_in(code)
        check("the simulator signs in: the page says Connected without a reload", connected is not None,
              "no Connected in #status")
        if connected is not None:
            self.checks.figures.setdefault("signInToConnectedMs", []).append(connected)
        self.b.wait(lambda: self.path().endswith("/done"), seconds=30, what="the done page")
        self.settle()
        result = self.b.by_id("result")
        check("done page: organization added", result is not None and result.get_attribute("data-state") == "onboarded",
              result.get_attribute("data-state") if result is not None else None)
        check("done page: no code and no form", not self.b.css("#user-code, form#intake"))
        self.shoot("onboard-done")
        status = self.open(link)
        check("after completion: the invitation link answers 404", status == 404, status)
        check("after completion: the plain #not-found page", self.b.by_id("not-found") is not None)
        status = self.open(link + "/sign-in")
        check("after completion: the sign-in page answers 404", status == 404, status)

    def connected_after_sign_in(self, code, seconds=60):
        """Signs in at the simulator; returns milliseconds until #status said Connected (in the same
        document: the observer lives in it), or None."""
        self.b.js("""
            sessionStorage.removeItem('cv-connected-at');
            const status = document.getElementById('status');
            const seen = () => {
                if (/connected/i.test(status.textContent) && !sessionStorage.getItem('cv-connected-at'))
                    sessionStorage.setItem('cv-connected-at', String(Date.now()));
            };
            new MutationObserver(seen).observe(status, {subtree: true, childList: true, characterData: true,
                                                        attributes: true});""")
        started = time.time() * 1000
        self.simulator("sign-in", {"userCode": code})
        try:
            at = self.b.wait(lambda: self.b.js("return sessionStorage.getItem('cv-connected-at')"), seconds=seconds,
                             what="Connected")
        except TimeoutError:
            return None
        return float(at) - started

    def to_sign_in(self, link, tenant):
        """Opens an invitation and submits valid values: the sign-in page's code."""
        self.open(link)
        self.fill(self.valid_values(f"{tenant}.onmicrosoft.com"))
        self.submit("intake")
        self.b.wait(lambda: self.path().endswith("/sign-in"), what="the sign-in page")
        return (self.text("user-code") or "").strip()

    def expired_code(self):
        """The code runs out: the page says so; "get a new code" gives a new one."""
        check = self.checks.check
        link = self.config["links"]["expiry"]
        old = self.to_sign_in(link, "northwind")
        self.simulator("expire-codes", {})
        try:
            self.b.wait(lambda: self.path().endswith("/done"), seconds=60, what="the done page")
        except TimeoutError:
            check("expired code: the page moves to the done page by itself", False, self.path())
            self.open(link + "/done")
        self.settle()
        result = self.b.by_id("result")
        check("expired code: the page says the code expired", result is not None
              and result.get_attribute("data-state") == "expired" and "expired" in result.text.lower(),
              result.get_attribute("data-state") if result is not None else None)
        check("expired code: a 'get a new code' form", self.b.css("form#renew-code button#renew")
              and self.b.css("form#renew-code input[type=hidden][name=csrf]"))
        check("expired code: a contact line", self.b.by_id("contact") is not None)
        self.shoot("onboard-expired")
        self.submit("renew-code")
        self.b.wait(lambda: self.path().endswith("/sign-in"), what="the sign-in page")
        new = (self.text("user-code") or "").strip()
        check("get a new code: a new code on the sign-in page", new and new != old, (old, new))
        status = self.b.by_id("status")
        check("get a new code: awaiting the customer again", status is not None
              and status.get_attribute("data-state") == "awaiting-customer")

    def without_javascript(self):
        """JavaScript off: the form, the code, and the page's own refresh reaches "organization added"."""
        check = self.checks.check
        browser = Browser()
        try:
            browser.driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
            portal = Portal(dict(self.config, screenshots=None), browser, self.checks)
            code = portal.to_sign_in(self.config["links"]["nojs"], self.config["tenants"]["nojs"])
            check("no JavaScript: the form leads to the sign-in page and its code", code, portal.path())
            check("no JavaScript: the sign-in page refreshes itself",
                  browser.css("meta[http-equiv=refresh], meta[http-equiv=Refresh]"))
            portal.simulator("sign-in", {"userCode": code})

            def connected():
                result, status = browser.by_id("result"), browser.by_id("status")
                if browser.by_id("not-found") is not None:
                    return "the refresh led to the 404 page"
                return (result is not None and result.get_attribute("data-state") == "onboarded") or (
                    status is not None and re.search("connected", status.text, re.I))
            try:
                reached = browser.wait(connected, seconds=60, what="Connected without JavaScript")
            except TimeoutError:
                reached = "timed out"
            check("no JavaScript: the page's own refresh reaches Connected or 'organization added'", reached is True
                  or not isinstance(reached, str), f"{reached}; {portal.path()}: {portal.text('status') or portal.text('result')}")
            portal.settle()
            browser.drain()
            self.documents += portal.documents
            self.b.requests += browser.requests
            self.b.console += browser.console
        finally:
            browser.quit()

    def server_error(self):
        """VB365 refuses the organization with a message holding markup: plain words, raw text escaped."""
        check = self.checks.check
        body = json.dumps({"message": PAYLOAD, "errorCode": "ParameterValidationFailure"})
        # Once: a refused add is final (no retry), and the next tenants' adds must go through.
        self.simulator("faults", {"endpoint": "POST Organizations", "respond": {"status": 400, "body": body},
                                  "count": 1})
        code = self.to_sign_in(self.config["links"]["failure"], "fabrikam")
        self.simulator("sign-in", {"userCode": code})
        self.b.wait(lambda: self.path().endswith("/done"), seconds=60, what="the done page")
        self.settle()
        result = self.b.by_id("result")
        check("VB365 refuses: the done page says it failed", result is not None
              and result.get_attribute("data-state") == "failed",
              result.get_attribute("data-state") if result is not None else None)
        check("VB365 refuses: plain words in #failure-message", self.b.by_id("failure-message") is not None
              and self.b.by_id("failure-message").text.strip())
        raw = self.b.js("const d = document.getElementById('server-message'); return d && d.tagName === 'DETAILS'"
                        " ? d.textContent : null")
        check("VB365 refuses: its raw message in <details id=server-message>, as text",
              raw is not None and "<script>window.__cvXss=1</script>" in raw and '"\'>' in raw, repr(raw)[:300])
        check("VB365 refuses: a contact line", self.b.by_id("contact") is not None)
        self.no_injection("VB365 message with markup")
        self.b.js("const d = document.getElementById('server-message'); if (d) d.open = true")
        self.shoot("onboard-failed")

    def renewal(self):
        check = self.checks.check
        status = self.open(self.config["links"]["renewal"])
        check("renewal invitation: answers 200", status == 200, status)
        check("renewal invitation: a summary and form#start-renewal instead of the intake form",
              self.b.css("form#start-renewal button#submit") and not self.b.css("form#intake"))
        self.shoot("onboard-renewal")

    # The dashboard ---------------------------------------------------------------------------------

    def sign_in_admin(self, token):
        status = self.open(self.base + "/admin/login")
        self.b.css("form#login input[name=token]")[0].send_keys(token)
        self.submit("login")
        return status

    def sign_out_admin(self):
        if self.b.css("form#logout"):
            self.submit("logout")
        self.b.driver.delete_all_cookies()

    def dashboard(self):
        check = self.checks.check
        tenants = self.config["tenants"]
        status = self.open(self.base + "/admin/login")
        check("dashboard login: answers 200", status == 200, status)
        check("dashboard login: the token field is a password field",
              self.b.css("form#login input[type=password][name=token]"))
        self.shoot("admin-login")
        self.b.css("form#login input[name=token]")[0].send_keys(self.config["tokens"]["admin"])
        self.submit("login")
        check("dashboard: signed in with a token, on /admin", self.path() == "/admin", self.path())
        cookie = self.b.driver.get_cookie("certvault_session")
        check("dashboard: session cookie HttpOnly, SameSite=Strict, Path=/admin", cookie is not None
              and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict" and cookie.get("path") == "/admin",
              cookie and {k: cookie.get(k) for k in ["httpOnly", "secure", "sameSite", "path"]})
        for tenant in [tenants["onboarded"], tenants["happy"]]:
            check(f"dashboard: tenant {tenant} listed", self.b.css(f"table#tenants tr[data-tenant='{tenant}']"))
        bars = self.b.css("svg#expiry-chart rect.bar")
        months = [bar.get_attribute("data-month") or "" for bar in bars]
        counts = [int(bar.get_attribute("data-count") or 0) for bar in bars]
        # This month and the next 24 (or 23): consecutive months, each once.
        now = time.gmtime()
        expected = [f"{now.tm_year + (now.tm_mon - 1 + i) // 12}-{(now.tm_mon - 1 + i) % 12 + 1:02d}" for i in range(25)]
        check("dashboard: the expiry chart has one bar per month from this month on, 24 months and more",
              months in (expected, expected[:24]), months)
        check("dashboard: the chart counts the certificates", sum(counts) >= 1, counts)
        check("dashboard: the chart renders (has a size on screen)", self.b.js(
            "const s = document.getElementById('expiry-chart'); if (!s) return false;"
            "const r = s.getBoundingClientRect(); return r.width > 100 && r.height > 50"))
        check("dashboard: a logout form", self.b.css("form#logout"))
        self.shoot("admin-tenants")
        query = self.b.css("form#filter [name=q]")
        if check("dashboard: a filter form", query):
            query[0].send_keys(tenants["onboarded"])
            self.submit("filter")
            rows = [r.get_attribute("data-tenant") for r in self.b.css("table#tenants tr[data-tenant]")]
            check("dashboard: the filter keeps only matching tenants", rows == [tenants["onboarded"]], rows)

        status = self.open(self.base + "/admin/invitations")
        check("dashboard invitations: answers 200", status == 200, status)
        self.invite(tenants["invite"])
        link = (self.text("invitation-link") or "").strip()
        check("dashboard: an invitation created, its link shown",
              link.startswith(self.base + "/onboard/cvi_"), link)
        check("dashboard: a copy button for the link", self.b.by_id("copy-link") is not None)
        check("dashboard: the invitation in the list",
              tenants["invite"] in (self.text("invitations") or ""))
        self.shoot("admin-invitations")
        status = self.open(self.base + "/admin/audit")
        check("dashboard audit: table#audit with entries", status == 200 and self.b.css("table#audit tbody tr"), status)
        self.shoot("admin-audit")
        self.sign_out_admin()
        self.open(self.base + "/admin")
        check("after logout: /admin asks for a token again", self.path() == "/admin/login"
              or self.b.css("form#login"), self.path())
        if link.startswith(self.base):
            status = self.open(link)
            check("the dashboard's invitation link opens the welcome page", status == 200
                  and self.b.css("form#intake"), status)

        # A token that may read tenants but not write onboarding.
        self.sign_in_admin(self.config["tokens"]["reader"])
        check("reader token: signs in and sees the tenants", self.b.css("table#tenants"))
        status = self.open(self.base + "/admin/invitations")
        if status == 200 and self.b.css("form#invite"):
            status = self.invite("denied-tenant")
        check("reader token: creating an invitation answers 403 #forbidden", status == 403
              and self.b.by_id("forbidden") is not None, status)
        check("reader token: no invitation link shown", self.b.by_id("invitation-link") is None)
        self.shoot("admin-forbidden")
        self.sign_out_admin()

    def invite(self, tenant):
        from selenium.webdriver.support.ui import Select
        self.b.css("form#invite [name=tenant]")[0].send_keys(tenant)
        name = self.b.css("form#invite [name=display_name]")
        if name:
            name[0].send_keys("Woodgrove Bank")
        kind = self.b.css("form#invite select[name=kind]")
        if kind:
            Select(kind[0]).select_by_value("onboarding")
        days = self.b.css("form#invite [name=days]")
        if days:
            days[0].clear()
            days[0].send_keys("7")
        return self.submit("invite")

    # Everything the browser saw --------------------------------------------------------------------

    def whole_session(self):
        check = self.checks.check
        self.b.drain()
        origin = self.base
        strays = sorted({r["url"] for r in self.b.requests
                         if not (r["url"] == origin or r["url"].startswith(origin + "/"))
                         and not r["url"].startswith("data:") and r["url"] != "about:blank"})
        check("network: every request went to the service's origin", not strays, strays[:10])
        check("network: the verification link was not followed",
              not any("microsoft.com" in r["url"] for r in self.b.requests))
        html = [d for d in self.documents if "text/html" in d[2].get("content-type", "")]
        check("pages seen", len(html) >= 10, len(html))
        for url, status, headers in html:
            path = urllib.parse.urlsplit(url).path
            label = re.sub(r"cvi_[0-9a-f]+_[A-Za-z0-9_-]+", "TOKEN", path)
            csp = headers.get("content-security-policy")
            if path.startswith("/onboard"):
                check(f"headers of {label} ({status}): the strict CSP", csp == CSP, csp)
                check(f"headers of {label} ({status}): Referrer-Policy no-referrer",
                      headers.get("referrer-policy") == "no-referrer", headers.get("referrer-policy"))
            else:
                check(f"headers of {label} ({status}): a CSP with default-src 'none'",
                      csp and "default-src 'none'" in csp, csp)
            check(f"headers of {label} ({status}): nosniff, no-store",
                  headers.get("x-content-type-options") == "nosniff" and "no-store" in headers.get("cache-control", ""),
                  {k: headers.get(k) for k in ["x-content-type-options", "cache-control"]})
        violations = [e["message"] for e in self.b.console
                      if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]
        check("console: no Content-Security-Policy violation on any page", not violations, violations[:5])
        errors = [e["message"] for e in self.b.console if e.get("level") == "SEVERE"
                  and "404 (Not Found)" not in e["message"] and "403 (Forbidden)" not in e["message"]
                  and "400 (Bad Request)" not in e["message"] and "422" not in e["message"]]
        check("console: no script error", not errors, errors[:5])


def raw_get(url):
    """Status and body of a GET without the browser."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def run_tests(config):
    checks = Checks()
    browser = Browser()
    try:
        portal = Portal(config, browser, checks)
        browser.size("1280")
        checks.scenario("unknown, revoked and expired invitations", portal.not_found)
        checks.scenario("form errors", portal.form_errors)
        checks.scenario("markup typed into the form", portal.injection)
        checks.scenario("customer happy path by keyboard", portal.happy_path)
        checks.scenario("expired code", portal.expired_code)
        checks.scenario("VB365 error message", portal.server_error)
        if config["links"].get("nojs"):
            checks.scenario("without JavaScript", portal.without_javascript)
        if config["links"].get("renewal"):
            checks.scenario("renewal invitation", portal.renewal)
        checks.scenario("dashboard", portal.dashboard)
        checks.scenario("what the browser saw", portal.whole_session)
    finally:
        browser.quit()
    checks.check("Selenium Manager downloaded nothing (its cache stayed empty)", not browser.cache_listing,
                 browser.cache_listing[:5])
    return checks


def run_bench(config):
    """Prints the figures; asserts nothing."""
    checks = Checks()
    browser = Browser()
    figures = {"pages": {}, "signInToConnectedMs": [], "pollSeconds": config.get("pollSeconds"),
               "workerPollSeconds": config.get("workerPollSeconds")}
    try:
        portal = Portal(dict(config, screenshots=None), browser, checks)
        browser.size("1280")
        # Every load as a first visit: the stylesheet, script and logo count each time.
        browser.driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})

        def measure(name):
            browser.wait(lambda: browser.js("return performance.getEntriesByName('first-contentful-paint').length"),
                         seconds=10, what="first contentful paint")
            time.sleep(0.3)
            requests, _, _ = browser.drain()
            initial = [r for r in requests if not r["url"].endswith("/status")]
            fcp = browser.js("return performance.getEntriesByName('first-contentful-paint')[0].startTime")
            page = figures["pages"].setdefault(name, {"bytes": [], "requests": [], "fcpMs": []})
            page["bytes"].append(sum(browser.sizes.get(r["id"], 0) for r in initial))
            page["requests"].append(len(initial))
            page["fcpMs"].append(fcp)

        for index, link in enumerate(config["links"]["bench"]):
            browser.drain()
            browser.driver.get(link)
            measure("welcome")
            portal.fill(portal.valid_values(f"bench{index}.onmicrosoft.com"))
            browser.drain()
            portal.submit("intake")
            browser.wait(lambda: portal.path().endswith("/sign-in"), what="the sign-in page")
            # The 303 and the page it leads to: count from the page itself.
            browser.drain()
            browser.driver.get(browser.driver.current_url)
            measure("sign-in")
            code = (portal.text("user-code") or "").strip()
            connected = portal.connected_after_sign_in(code)
            if connected is not None:
                figures["signInToConnectedMs"].append(connected)
            browser.wait(lambda: portal.path().endswith("/done"), seconds=60, what="the done page")
            browser.drain()
            browser.driver.get(browser.driver.current_url)
            measure("done")
        browser.drain()
        browser.driver.get(config["links"]["unknown"])
        measure("not-found")
    finally:
        browser.quit()
    print(f"portal bench: {len(config['links']['bench'])} runs; page status poll {config.get('pollSeconds')} s, "
          f"worker DeviceCode/check interval {config.get('workerPollSeconds')} s")
    for name, page in figures["pages"].items():
        print(f"  {name:10} {statistics.median(page['bytes']):>8.0f} bytes  {statistics.median(page['requests']):>3.0f} requests"
              f"  first contentful paint median {statistics.median(page['fcpMs']):6.0f} ms"
              f" (min {min(page['fcpMs']):.0f}, max {max(page['fcpMs']):.0f})")
    times = figures["signInToConnectedMs"]
    if times:
        print(f"  sign-in -> Connected: median {statistics.median(times):.0f} ms, min {min(times):.0f}, "
              f"max {max(times):.0f} over {len(times)} runs")
    else:
        print("  sign-in -> Connected: never seen")
    checks.figures = figures
    return checks


def main():
    missing = missing_tools()
    if missing:
        print("SKIP: missing " + ", ".join(missing))
        return 3
    path = os.environ.get("CERTVAULT_BROWSER_CONFIG")
    if not path:
        print("set CERTVAULT_BROWSER_CONFIG to the JSON file the Swift test writes (see this file's header)")
        return 2
    with open(path) as file:
        config = json.load(file)
    started = time.time()
    checks = run_bench(config) if "--bench" in sys.argv[1:] else run_tests(config)
    print(f"browser: {len(checks.items)} checks, {len(checks.failed)} failed, {time.time() - started:.1f} s")
    if config.get("results"):
        with open(config["results"], "w") as file:
            json.dump({"checks": checks.items, "figures": checks.figures}, file, indent=1)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
