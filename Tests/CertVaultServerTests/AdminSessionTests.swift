import CertVaultAccess
import CertVaultCore
import CertVaultVault
import CertVaultConfiguration
@testable import CertVaultServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Dashboard sessions: sign in with a token, a cookie instead of the token, sign out, expiry", .serialized)
struct AdminSessionTests {
    static let csp =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'"

    @Test("the sign-in page: form#login with a password field named token, button#submit, and the customer pages' security headers")
    func loginPage() async throws {
        let admin = try AdminWorld()
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            let page = try await browser.get(client, "/admin/login")
            #expect(page.status == .ok)
            #expect(page.text.contains(#"<form id="login" method="post" action="/admin/login">"#))
            #expect(page.text.contains(#"<input id="token" name="token" type="password""#))
            #expect(page.text.contains(#"<button id="submit" type="submit">"#))
            #expect(page.text.contains("Contoso Backup Services"))
            #expect(page.headers[.contentSecurityPolicy] == Self.csp)
            #expect(page.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
            #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(page.headers[.cacheControl] == "no-store")
            #expect(!page.text.contains("style="), "no inline style")
            #expect(!page.text.contains("<script>"), "no inline script")
            #expect(browser.cookies["certvault_login"] != nil, "the form's double-submit cookie")
            for asset in ["/admin/assets/admin.css", "/admin/assets/admin.js"] {
                let response = try await client.execute(uri: asset, method: .get)
                #expect(response.status == .ok, "\(asset)")
                #expect(response.headers[.contentSecurityPolicy] == Self.csp)
            }
        }
    }

    @Test("signing in: 303 to /admin with certvault_session (256 random bits; HttpOnly; Secure; SameSite=Strict; Path=/admin; Max-Age = session_minutes), the token in no header, audited without the token")
    func signIn() async throws {
        let admin = try AdminWorld(sessionMinutes: 20)
        let token = try admin.world.tokens.add(scopes: [.tenantsRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            let response = try await browser.signIn(client, token: token)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/admin")
            let cookie = try #require(AdminBrowser.setCookies(response).first { $0.hasPrefix("certvault_session=") })
            let value = String(cookie.dropFirst("certvault_session=".count).prefix { $0 != ";" })
            #expect(value.range(of: #"^[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$"#, options: .regularExpression) != nil, "\(value)")
            let attributes = Set(cookie.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(attributes == ["Max-Age=1200", "Path=/admin", "Secure", "HttpOnly", "SameSite=Strict"])
            for field in response.headers { #expect(!field.value.contains(token), "the token is not in \(field.name)") }
            #expect(!response.text.contains(token))
            let page = try await browser.get(client, "/admin")
            #expect(page.status == .ok)
            #expect(page.text.contains(#"<form id="logout" method="post" action="/admin/logout">"#))
            #expect(!page.text.contains(token), "the page never shows the token")
        }
        let logins = try admin.world.auditRecords("dashboard.login")
        #expect(logins.count == 1)
        #expect(logins.first?.detail.contains(TestTokens.accessor(of: token)) == true)
        let all = try admin.world.vault().auditRecords().records
        #expect(!all.contains { $0.detail.contains(token) }, "the token is in no audit record")
    }

    @Test("without a session every page sends the browser to the sign-in page")
    func anonymousIsRedirected() async throws {
        let admin = try AdminWorld()
        try await admin.app().test(.router) { client in
            for uri in ["/admin", "/admin/audit", "/admin/invitations"] {
                let response = try await client.execute(uri: uri, method: .get)
                #expect(response.status == .seeOther, "\(uri)")
                #expect(response.headers[.location] == "/admin/login", "\(uri)")
            }
            var browser = AdminBrowser()
            browser.cookies["certvault_session"] = "0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            let forged = try await browser.get(client, "/admin")
            #expect(forged.status == .seeOther)
            #expect(forged.headers[.location] == "/admin/login?ended=expired")
        }
    }

    @Test("a failed sign-in: 401 with one generic message for an unknown, revoked, expired or malformed token; no session; audited")
    func failedSignIn() async throws {
        let admin = try AdminWorld()
        let revoked = try admin.world.tokens.add(scopes: [.tenantsRead], revoked: true)
        let expired = try admin.world.tokens.add(scopes: [.tenantsRead], expired: true)
        let unknown = "cvt_0123456789abcdef_" + String(repeating: "A", count: 43)
        try await admin.app().test(.router) { client in
            var messages: Set<String> = []
            for token in [revoked, expired, unknown, "not a token", ""] {
                var browser = AdminBrowser()
                let response = try await browser.signIn(client, token: token)
                #expect(response.status == .unauthorized, "\(token)")
                #expect(browser.cookies["certvault_session"] == nil)
                let error = try #require(response.text.range(of: #"<p id="login-error"[^<]*</p>"#, options: .regularExpression))
                messages.insert(String(response.text[error]))
                #expect(response.text.contains(#"aria-invalid="true""#))
            }
            #expect(messages.count == 1, "one message for every failure: \(messages)")
        }
        let failures = try admin.world.auditRecords("dashboard.login-failed")
        #expect(failures.count == 5)
        #expect(!failures.contains { $0.detail.contains("cvt_") })
    }

    @Test("failed sign-ins are limited per client address: after 5 within 10 minutes, 429 with Retry-After, even for a good token")
    func signInRateLimit() async throws {
        let admin = try AdminWorld()
        let good = try admin.world.tokens.add(scopes: [.tenantsRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            for _ in 0..<5 {
                let response = try await browser.signIn(client, token: "cvt_wrong")
                #expect(response.status == .unauthorized)
            }
            let limited = try await browser.signIn(client, token: good)
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            #expect(browser.cookies["certvault_session"] == nil)
            admin.clock.advance(601)
            let later = try await browser.signIn(client, token: good)
            #expect(later.status == .seeOther, "the limit ends with its window")
        }
    }

    @Test("signing out ends the session on the server: the old cookie no longer works; audited")
    func signOut() async throws {
        let admin = try AdminWorld()
        let token = try admin.world.tokens.add(scopes: [.tenantsRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            _ = try await browser.get(client, "/admin")
            let stolen = try #require(browser.cookies["certvault_session"])
            let response = try await browser.post(client, "/admin/logout")
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/admin/login?ended=logout")
            #expect(AdminBrowser.setCookies(response).contains { $0.hasPrefix("certvault_session=;") && $0.contains("Max-Age=0") })
            var replay = AdminBrowser()
            replay.cookies["certvault_session"] = stolen
            let after = try await replay.get(client, "/admin")
            #expect(after.status == .seeOther)
            #expect(after.headers[.location]?.hasPrefix("/admin/login") == true)
        }
        #expect(try admin.world.auditRecords("dashboard.logout").count == 1)
    }

    @Test("a session ends after session_minutes (absolute, from sign-in)")
    func sessionExpires() async throws {
        let admin = try AdminWorld(sessionMinutes: 15)
        let token = try admin.world.tokens.add(scopes: [.tenantsRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            admin.clock.advance(14 * 60)
            #expect(try await browser.get(client, "/admin").status == .ok)
            admin.clock.advance(60)
            let expired = try await browser.get(client, "/admin")
            #expect(expired.status == .seeOther)
            #expect(expired.headers[.location] == "/admin/login?ended=expired")
            let login = try await browser.get(client, "/admin/login?ended=expired")
            #expect(login.text.contains("Your session has ended"))
        }
    }

    @Test("revoking the token ends its sessions at the next request; audited")
    func revokedTokenEndsSession() async throws {
        let admin = try AdminWorld()
        let token = try admin.world.tokens.add(scopes: [.tenantsRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            #expect(try await browser.get(client, "/admin").status == .ok)
            try admin.world.tokens.store.revoke(accessor: TestTokens.accessor(of: token))
            let after = try await browser.get(client, "/admin")
            #expect(after.status == .seeOther)
            #expect(after.headers[.location] == "/admin/login?ended=token")
            #expect(browser.cookies["certvault_session"] == nil, "the cookie is cleared")
        }
        #expect(try admin.world.auditRecords("dashboard.session-ended").count == 1)
    }

    @Test("a change of the token's access policy applies to a live session at once")
    func policyChangeAppliesAtOnce() async throws {
        let admin = try AdminWorld()
        try admin.world.issue("eu-west")
        let token = try admin.world.tokens.add(policy: "eu-readers")
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let before = try await browser.get(client, "/admin")
            #expect(before.status == .ok)
            #expect(before.text.contains(#"data-tenant="eu-west""#))
            let narrowed = AccessPolicy(name: "eu-readers", scopes: [.auditRead], tenants: try TenantSelector(["eu-*"]))
            admin.world.tokens.store.replacePolicies(try AccessPolicySet([narrowed]))
            let after = try await browser.get(client, "/admin")
            #expect(after.status == .forbidden)
            #expect(after.problemID == "forbidden")
            #expect(try await browser.get(client, "/admin/audit").status == .ok)
        }
    }

    @Test("CSRF: a POST without the session's form token is refused (403 #csrf-refused) and changes nothing")
    func csrfRefused() async throws {
        let admin = try AdminWorld()
        try admin.world.onboard("contoso")
        let token = try admin.world.tokens.add(scopes: [.tenantsRead, .certificatesRotate])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            _ = try await browser.get(client, "/admin")
            let noToken = try await browser.post(client, "/admin/logout", csrf: false)
            #expect(noToken.status == .forbidden)
            #expect(noToken.problemID == "csrf-refused")
            let wrong = try await browser.post(client, "/admin/tenants/contoso/rotate", [("csrf", "forged")])
            #expect(wrong.status == .forbidden)
            #expect(wrong.problemID == "csrf-refused")
            #expect(try await browser.get(client, "/admin").status == .ok, "the session is still there")
            // The sign-in form: without the double-submit cookie it is refused too.
            var other = AdminBrowser()
            _ = try await other.get(client, "/admin/login")
            other.cookies["certvault_login"] = nil
            let login = try await other.post(client, "/admin/login", [("token", token)])
            #expect(login.status == .forbidden)
            #expect(login.problemID == "csrf-refused")
        }
        #expect(try admin.world.auditRecords("dashboard.rotation").isEmpty)
        #expect(try admin.world.auditRecords("dashboard.logout").isEmpty)
    }

    @Test("the session table is bounded (the oldest session goes) and a session is found only with its whole secret")
    func sessionTable() throws {
        let sessions = AdminSessions(lifetimeSeconds: 60, capacity: 3)
        let token = SecretBytes.random(count: 8)
        let first = sessions.create(token: token, accessor: "a", now: 100)
        var cookies = [first.cookie]
        for offset in 1...3 { cookies.append(sessions.create(token: token, accessor: "a", now: 100 + Int64(offset)).cookie) }
        #expect(sessions.count == 3)
        #expect(sessions.session(cookie: cookies[0], now: 110) == nil, "the oldest was evicted")
        #expect(sessions.session(cookie: cookies[3], now: 110) != nil)
        var tampered = Array(cookies[3].utf8)
        tampered[tampered.count - 1] = tampered.last == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(sessions.session(cookie: String(decoding: tampered, as: UTF8.self), now: 110) == nil)
        #expect(sessions.session(cookie: cookies[3], now: 104 + 60) == nil, "expired")
        #expect(sessions.session(cookie: cookies[3], now: 110) == nil, "and removed")
        #expect(Base64URL.decode(Array(Base64URL.encode([0, 1, 2, 250, 251, 252, 253]).utf8)) == [0, 1, 2, 250, 251, 252, 253])
    }

    @Test("the login throttle counts failures per address within its window")
    func throttle() {
        let throttle = LoginThrottle(limit: 2, window: 100, capacity: 2)
        throttle.fail("a", now: 0)
        #expect(throttle.retryAfter("a", now: 1) == nil)
        throttle.fail("a", now: 10)
        #expect(throttle.retryAfter("a", now: 20) == 80)
        #expect(throttle.retryAfter("b", now: 20) == nil, "per address")
        #expect(throttle.retryAfter("a", now: 101) == nil, "the first failure left the window")
        throttle.succeed("a")
        throttle.fail("a", now: 200)
        #expect(throttle.retryAfter("a", now: 201) == nil)
    }
}
