import CertVaultAccess
import CertVaultCore
import CertVaultOnboarding
import CertVaultServer
import CertVaultVB365Simulator
import CertVaultVault
import CertVaultConfiguration
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Logging
import Testing

@Suite("The customer's pages against a real vault, invitation store and the VB365 simulator", .serialized)
struct PortalPagesTests {
    static let validForm: [(String, String)] = [
        ("organization", "fabrikam.onmicrosoft.com"), ("region", "Worldwide"), ("service_exchange", "on"),
        ("service_sharepoint", "on"), ("service_teams", "on"), ("contact_name", "Ada Lovelace"),
        ("contact_email", "ada@fabrikam.com"),
    ]

    static func status(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.text.utf8))) as? [String: Any] ?? [:]
    }

    @Test("The happy path: form, code, the simulator's sign-in, \"Connected\", the done page, then a dead link")
    func happyPath() async throws {
        let world = try PortalWorld { $0.extraFields = ["Customer number"] }
        let (invitation, token) = try world.invite("fabrikam")
        try await world.app().test(.router) { client in
            let unknown = try await client.get("/onboard/cvi_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

            let welcome = try await client.get("/onboard/\(token)")
            #expect(welcome.status == .ok)
            #expect(welcome.hasSecurityHeaders())
            #expect(welcome.headers[.contentType] == "text/html; charset=utf-8")
            #expect(welcome.text.contains(#"<form id="intake" method="post" action="/onboard/\#(token)""#))
            for id in [
                "organization", "region", "service_exchange", "service_sharepoint", "service_teams", "service_teams_chats",
                "contact_name", "contact_email", "extra_1", "submit",
            ] {
                #expect(welcome.text.contains(#"id="\#(id)""#), "field \(id)")
                if id != "submit" { #expect(welcome.text.contains(#"<label for="\#(id)">"#), "a label for \(id)") }
            }
            #expect(welcome.text.contains("Customer number"))
            #expect(welcome.text.contains("Contoso &lt;Ltd&gt;"), "the display name, escaped")
            let csrf = try #require(welcome.csrf)

            let posted = try await client.post(
                "/onboard/\(token)", form: [("csrf", csrf)] + Self.validForm + [("extra_1", "C-1042")])
            #expect(posted.status == .seeOther)
            #expect(posted.headers[.location] == "/onboard/\(token)/sign-in")
            #expect(posted.hasSecurityHeaders())
            #expect(world.api.workerWakes.value == 1, "the worker is woken at once, as by POST /v1/onboardings")
            let record = try #require(try world.api.onboarding.store.load(try TenantID("fabrikam")))
            #expect(record.state == .awaitingCustomer)
            #expect(record.intake.officeName == "fabrikam.onmicrosoft.com")
            #expect(record.intake.displayName == "Contoso <Ltd>")
            #expect(record.intake.providerFields == [
                "contact_name": "Ada Lovelace", "contact_email": "ada@fabrikam.com", "Customer number": "C-1042",
            ])

            let again = try await client.get("/onboard/\(token)")
            #expect(again.status == .seeOther, "a reloaded welcome link goes on to the sign-in")

            let signIn = try await client.get("/onboard/\(token)/sign-in")
            #expect(signIn.status == .ok)
            #expect(signIn.hasSecurityHeaders())
            let code = try #require(signIn.element("user-code"))
            #expect(code == record.userCode)
            #expect(signIn.text.contains(#"id="copy-code""#))
            #expect(signIn.text.contains(
                #"<a id="open-verification" class="button primary" href="https://microsoft.com/devicelogin" target="_blank" rel="noopener noreferrer">"#))
            #expect(signIn.text.contains(#"data-expires-at="\#(record.codeExpiresAt!)""#))
            #expect(signIn.text.contains(#"id="status" class="status" data-state="awaiting-customer""#))
            #expect(signIn.text.contains(#"id="conditional-access-note""#))
            #expect(signIn.text.contains(#"<noscript><meta http-equiv="refresh" content="1"></noscript>"#))

            let waiting = try await client.get("/onboard/\(token)/status")
            #expect(waiting.headers[.contentType] == "application/json")
            #expect(waiting.hasSecurityHeaders())
            #expect(Self.status(waiting)["state"] as? String == "awaiting-customer")
            #expect(Self.status(waiting)["codeExpiresAt"] as? String == record.codeExpiresAt)

            // The customer signs in at "Microsoft"; the service's worker adds the organization.
            #expect(world.api.simulator.signIn(userCode: code))
            _ = try world.api.onboarding.resume(try TenantID("fabrikam"))

            let connected = try await client.get("/onboard/\(token)/status")
            #expect(Self.status(connected)["state"] as? String == "onboarded")
            #expect(Self.status(connected)["message"] as? String == "Connected")
            #expect(try world.invitations.invitation(id: invitation.id)?.status == .completed, "completed lazily")

            let done = try await client.get("/onboard/\(token)/done")
            #expect(done.status == .ok)
            #expect(done.hasSecurityHeaders())
            #expect(done.text.contains(#"id="result" class="card result-onboarded" data-state="onboarded""#))
            #expect(done.text.contains(#"id="contact""#))
            #expect(!done.text.contains(code), "no code on the done page")
            #expect(!done.text.contains("csrf"), "no form on the done page")

            // The link is dead now, byte for byte like an unknown one.
            for path in ["", "/sign-in", "/status"] {
                let dead = try await client.get("/onboard/\(token)\(path)")
                #expect(dead.status == .notFound, "\(path)")
                #expect(dead.text == unknown.text, "\(path)")
            }
            let deadPost = try await client.post("/onboard/\(token)", form: [("csrf", csrf)] + Self.validForm)
            #expect(deadPost.status == .notFound)
            #expect(world.api.simulator.storedOrganizations().count == 1)
        }
        let audit = try world.api.vault().auditRecords().records
        let start = try #require(audit.first { $0.action == "portal.onboarding.start" })
        #expect(start.tenant == "fabrikam")
        #expect(start.detail.contains(invitation.id))
        #expect(start.detail.contains("fabrikam.onmicrosoft.com"))
        #expect(audit.contains { $0.action == "portal.invitation.complete" && $0.tenant == "fabrikam" })
        let secret = String(token.split(separator: "_", maxSplits: 2).last!)  // the secret may itself hold "_"
        #expect(!audit.contains { $0.detail.contains(secret) }, "never the token in the audit log")
    }

    @Test("A POST without the CSRF token, or with another invitation's, is refused and starts nothing")
    func csrfRefused() async throws {
        let world = try PortalWorld()
        let (_, token) = try world.invite("fabrikam")
        let (_, other) = try world.invite("contoso")
        try await world.app().test(.router) { client in
            let otherCSRF = try #require(try await client.get("/onboard/\(other)").csrf)
            for form in [Self.validForm, [("csrf", otherCSRF)] + Self.validForm, [("csrf", "")] + Self.validForm,
                         [("csrf", String(repeating: "A", count: 43))] + Self.validForm] {
                let response = try await client.post("/onboard/\(token)", form: form)
                #expect(response.status == .forbidden)
                #expect(response.hasSecurityHeaders())
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let renew = try await client.post("/onboard/\(token)/renew", form: form)
                #expect(renew.status == .forbidden)
            }
        }
        #expect(try world.api.onboarding.store.load(try TenantID("fabrikam")) == nil)
        #expect(world.api.simulator.issuedUserCodes().isEmpty)
    }

    @Test("Unknown, malformed, revoked, expired and completed invitations get identical 404 bytes on every route")
    func deadLinks() async throws {
        let world = try PortalWorld()
        let (revoked, revokedToken) = try world.invite("contoso")
        _ = try world.invitations.revoke(id: revoked.id, now: UTCTime.now())
        let (_, expiredToken) = try world.invite("contoso", lifetime: 60, now: UTCTime.now() - 3_600)
        let (completed, completedToken) = try world.invite("contoso")
        _ = try world.invitations.markCompleted(id: completed.id, now: UTCTime.now() - 1_000)
        let (_, live) = try world.invite("contoso")
        let wrongSecret = String(live.dropLast(3)) + (live.hasSuffix("AAA") ? "BBB" : "AAA")
        let tokens = [
            "cvi_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "nonsense", revokedToken, expiredToken,
            completedToken, wrongSecret, String(repeating: "x", count: 300),
        ]
        try await world.app().test(.router) { client in
            var bodies: Set<String> = []
            for token in tokens {
                for path in ["", "/sign-in", "/status", "/done"] {
                    let response = try await client.get("/onboard/\(token)\(path)")
                    #expect(response.status == .notFound, "\(path)")
                    #expect(response.hasSecurityHeaders())
                    bodies.insert(response.text)
                }
                let posted = try await client.post("/onboard/\(token)", form: Self.validForm)
                #expect(posted.status == .notFound)
                bodies.insert(posted.text)
            }
            #expect(bodies.count == 1)
            let page = try #require(bodies.first)
            #expect(page.contains(#"id="not-found""#))
            #expect(page.contains("support@provider.example"), "says whom to contact")
            #expect(!page.contains("contoso"), "reveals nothing about the tenant")
        }
    }

    @Test("The form's errors: each next to its field, with aria-invalid and aria-describedby, and a summary")
    func formErrors() async throws {
        let world = try PortalWorld()
        let (_, token) = try world.invite("fabrikam")
        try await world.app().test(.router) { client in
            let csrf = try #require(try await client.get("/onboard/\(token)").csrf)
            let response = try await client.post(
                "/onboard/\(token)",
                form: [
                    ("csrf", csrf), ("organization", "not a domain"), ("region", "Mars"), ("service_teams", "on"),
                    ("contact_name", ""), ("contact_email", "ada-at-fabrikam"),
                ])
            #expect(response.status == .unprocessableContent)
            #expect(response.hasSecurityHeaders())
            #expect(response.text.contains(#"id="form-errors""#))
            for field in ["organization", "region", "services", "contact_name", "contact_email"] {
                #expect(response.text.contains(#"<p class="field-error" id="error-\#(field)">"#), "\(field)")
                #expect(response.text.contains(#"aria-invalid="true" aria-describedby="error-\#(field)""#), "\(field)")
                #expect(response.text.contains(##"<a href="#\##(field)">"##), "\(field) in the summary")
            }
            #expect(response.text.contains(#"value="not a domain""#), "the values come back")
            #expect(response.text.contains(#"value="ada-at-fabrikam""#))
            #expect(try world.api.onboarding.store.load(try TenantID("fabrikam")) == nil, "nothing started")
            #expect(response.csrf == csrf)
        }
    }

    @Test("<script> and quotes typed into every field come back as text")
    func typedMarkupIsEscaped() async throws {
        let world = try PortalWorld { $0.extraFields = ["Reference", "Notes"] }
        let (_, token) = try world.invite("fabrikam")
        let hostile = #"<script>alert("x")</script>' onfocus='alert(1)"#
        let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onfocus=&#39;alert(1)"
        try await world.app().test(.router) { client in
            let csrf = try #require(try await client.get("/onboard/\(token)").csrf)
            let fields = ["organization", "region", "contact_name", "contact_email", "extra_1", "extra_2"]
            let response = try await client.post(
                "/onboard/\(token)", form: [("csrf", csrf), ("service_exchange", "on")] + fields.map { ($0, hostile) })
            #expect(response.status == .unprocessableContent)
            #expect(!response.text.contains("<script>alert"))
            #expect(!response.text.contains("' onfocus='"))
            for field in ["organization", "contact_name", "contact_email", "extra_1", "extra_2"] {
                #expect(response.text.contains(#"id="\#(field)" name="\#(field)" value="\#(escaped)""#), "\(field)")
            }
        }
    }

    @Test("A failure of VB365 with <script> in its message: plain words, the raw text escaped in <details>")
    func failureMessageEscaped() async throws {
        let world = try PortalWorld()
        let (_, token) = try world.invite("fabrikam")
        try await world.app().test(.router) { client in
            let csrf = try #require(try await client.get("/onboard/\(token)").csrf)
            _ = try await client.post("/onboard/\(token)", form: [("csrf", csrf)] + Self.validForm)
            let record = try #require(try world.api.onboarding.store.load(try TenantID("fabrikam")))
            world.api.simulator.respondNext(
                "POST Organizations", status: 400,
                body: Array(#"{"message":"<script>alert('x')</script> Insufficient privileges to complete the operation."}"#.utf8))
            world.api.simulator.signIn(userCode: record.userCode!)
            _ = try? world.api.onboarding.resume(try TenantID("fabrikam"))
            let failed = try #require(try world.api.onboarding.store.load(try TenantID("fabrikam")))
            #expect(failed.state == .failed)

            let status = try await client.get("/onboard/\(token)/status")
            #expect(Self.status(status)["state"] as? String == "failed")
            let signIn = try await client.get("/onboard/\(token)/sign-in")
            #expect(signIn.status == .seeOther)
            #expect(signIn.headers[.location] == "/onboard/\(token)/done")
            let done = try await client.get("/onboard/\(token)/done")
            #expect(done.status == .ok)
            #expect(done.text.contains(#"data-state="failed""#))
            #expect(done.element("failure-message")?.contains("Global Administrator") == true)
            #expect(done.text.contains(#"<details id="server-message">"#))
            #expect(!done.text.contains("<script>alert"))
            #expect(done.text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
            #expect(done.text.contains(#"id="contact""#))

            // The welcome link shows the form again with the details given, to correct and resend.
            let welcome = try await client.get("/onboard/\(token)")
            #expect(welcome.status == .ok)
            #expect(welcome.text.contains(#"id="previous-failure""#))
            #expect(welcome.text.contains(#"value="fabrikam.onmicrosoft.com""#))
        }
    }

    @Test("An expired code: the page says so, and \"get a new code\" gives a new one through the renew-code path")
    func expiredCode() async throws {
        let world = try PortalWorld()
        let (_, token) = try world.invite("fabrikam")
        try await world.app().test(.router) { client in
            let csrf = try #require(try await client.get("/onboard/\(token)").csrf)
            _ = try await client.post("/onboard/\(token)", form: [("csrf", csrf)] + Self.validForm)
            let tenant = try TenantID("fabrikam")
            var record = try #require(try world.api.onboarding.store.load(tenant))
            let oldCode = try #require(record.userCode)
            record.codeExpiresAt = UTCTime.dateTime(UTCTime.now() - 5)
            try world.api.onboarding.store.save(record)

            let status = try await client.get("/onboard/\(token)/status")
            #expect(Self.status(status)["state"] as? String == "expired")
            let signIn = try await client.get("/onboard/\(token)/sign-in")
            #expect(signIn.headers[.location] == "/onboard/\(token)/done")
            let done = try await client.get("/onboard/\(token)/done")
            #expect(done.text.contains(#"data-state="expired""#))
            #expect(done.text.contains(#"<form id="renew-code" method="post" action="/onboard/\#(token)/renew">"#))
            #expect(done.text.contains(#"id="renew""#))
            let renewCSRF = try #require(done.csrf)

            let wakes = world.api.workerWakes.value
            let renewed = try await client.post("/onboard/\(token)/renew", form: [("csrf", renewCSRF)])
            #expect(renewed.status == .seeOther)
            #expect(renewed.headers[.location] == "/onboard/\(token)/sign-in")
            #expect(world.api.workerWakes.value == wakes + 1)
            let fresh = try await client.get("/onboard/\(token)/sign-in")
            let newCode = try #require(fresh.element("user-code"))
            #expect(newCode != oldCode)
            #expect(newCode == (try world.api.onboarding.store.load(tenant))?.userCode)
        }
        #expect(try world.api.vault().auditRecords().records.contains { $0.action == "portal.onboarding.renew-code" })
    }

    @Test("A renewal invitation: summary, start, the same sign-in, and done once VB365 has the new certificate")
    func renewal() async throws {
        let world = try PortalWorld()
        try world.api.onboard("contoso")
        let (invitation, token) = try world.invite("contoso", kind: .renewal)
        let tenant = try TenantID("contoso")
        try await world.app().test(.router) { client in
            let summary = try await client.get("/onboard/\(token)")
            #expect(summary.status == .ok)
            #expect(summary.hasSecurityHeaders())
            #expect(summary.text.contains(#"<form id="start-renewal" method="post" action="/onboard/\#(token)">"#))
            #expect(summary.text.contains(#"id="submit""#))
            #expect(!summary.text.contains(#"id="intake""#))
            #expect(summary.text.contains("contoso.onmicrosoft.com"))
            let csrf = try #require(summary.csrf)

            let refused = try await client.post("/onboard/\(token)", form: [])
            #expect(refused.status == .forbidden)
            #expect(try world.api.onboarding.store.load(tenant)?.rotation == nil)

            let started = try await client.post("/onboard/\(token)", form: [("csrf", csrf)])
            #expect(started.status == .seeOther)
            #expect(started.headers[.location] == "/onboard/\(token)/sign-in")
            let rotation = try #require(try world.api.onboarding.store.load(tenant)?.rotation)
            #expect(rotation.phase == .awaitingCustomer)
            #expect(rotation.configureApplication)

            let signIn = try await client.get("/onboard/\(token)/sign-in")
            #expect(signIn.status == .ok)
            let code = try #require(signIn.element("user-code"))
            #expect(code == rotation.userCode)

            #expect(world.api.simulator.signIn(userCode: code))
            // No worker resumes rotations: the status checks (at most once per poll interval) carry it on.
            var state = ""
            for _ in 0..<20 {
                let status = try await client.get("/onboard/\(token)/status")
                if status.status == .notFound { break }
                state = Self.status(status)["state"] as? String ?? ""
                if state == "onboarded" { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(state == "onboarded")
            #expect(try world.api.onboarding.store.load(tenant)?.rotation?.phase == .done)
            #expect(try world.invitations.invitation(id: invitation.id)?.status == .completed)
            let done = try await client.get("/onboard/\(token)/done")
            #expect(done.text.contains(#"data-state="onboarded""#))
            #expect(done.text.contains("The certificate is renewed"))
            let dead = try await client.get("/onboard/\(token)")
            #expect(dead.status == .notFound)
        }
        #expect(try world.api.vault().auditRecords().records.contains { $0.action == "portal.rotation.start" })
    }

    @Test("The request log at debug level never holds an invitation token; the path is logged with it replaced")
    func tokenNeverLogged() async throws {
        let world = try PortalWorld()
        let (_, token) = try world.invite("fabrikam")
        let logs = CapturedLogs()
        let logger = Logger(label: "capture") { _ in CapturedLogs.Handler(sink: logs) }
        try await world.app(logger: logger).test(.router) { client in
            let csrf = try #require(try await client.get("/onboard/\(token)").csrf)
            _ = try await client.post("/onboard/\(token)", form: [("csrf", csrf)] + Self.validForm)
            _ = try await client.get("/onboard/\(token)/sign-in")
            _ = try await client.get("/onboard/\(token)/status")
            _ = try await client.get("/onboard/\(token)x/done")
        }
        let secret = String(token.split(separator: "_", maxSplits: 2).last!)  // the secret may itself hold "_"
        #expect(!logs.all.isEmpty)
        let leaking = logs.all.filter { $0.contains(secret) }.map { $0.replacingOccurrences(of: secret, with: "[THE SECRET]") }
        #expect(leaking.isEmpty, "log lines with the token's secret: \(leaking)")
        #expect(logs.all.contains { $0.contains("/onboard/[token]/sign-in") })
    }
}
