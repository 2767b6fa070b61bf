import CertVaultAccess
import CertVaultCore
import CertVaultVault
@testable import CertVaultServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Dashboard invitations: create with onboarding:write, the link shown once, revoke", .serialized)
struct AdminInvitationTests {
    /// The link in `#invitation-link`.
    static func link(_ page: String) -> String? {
        guard let range = page.range(of: #"<code id="invitation-link">[^<]*</code>"#, options: .regularExpression) else { return nil }
        return String(page[range].dropFirst(#"<code id="invitation-link">"#.count).dropLast("</code>".count))
    }

    @Test("creating an invitation shows its link once (#invitation-link, button#copy-link), lists it, and the link resolves in the store; audited")
    func create() async throws {
        let admin = try AdminWorld()
        let store = try #require(admin.services.invitations)
        let token = try admin.world.tokens.add(scopes: [.onboardingWrite])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let form = try await browser.get(client, "/admin/invitations")
            #expect(form.status == .ok)
            #expect(form.text.contains(#"<form id="invite" method="post" action="/admin/invitations""#))
            let created = try await browser.post(
                client, "/admin/invitations",
                [("tenant", "woodgrove"), ("display_name", #"Woodgrove <Bank> "&" Co"#), ("kind", "onboarding"), ("days", "7")])
            #expect(created.status == .ok)
            let link = try #require(Self.link(created.text))
            #expect(link.hasPrefix("https://portal.example/onboard/cvi_"))
            #expect(created.text.contains(#"<button type="button" id="copy-link""#))
            #expect(created.text.contains(#"<table id="invitations""#))
            #expect(created.text.contains("Woodgrove &lt;Bank&gt; &quot;&amp;&quot; Co"))
            #expect(!created.text.contains("<Bank>"))
            let text = String(link.dropFirst("https://portal.example/onboard/".count))
            let resolved = try store.resolve(Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) })
            #expect(resolved?.tenant.rawValue == "woodgrove")
            #expect(resolved?.createdBy == TestTokens.accessor(of: token))
            let invitation = try #require(resolved)
            #expect(invitation.expiresAt - invitation.createdAt == Int64(7 * 86_400))
            let again = try await browser.get(client, "/admin/invitations")
            #expect(Self.link(again.text) == nil, "the link is shown only once")
            #expect(!again.text.contains(text))
            #expect(again.text.contains(#"data-tenant="woodgrove" data-state="active""#))
        }
        let audit = try admin.world.auditRecords("invitation.create")
        #expect(audit.count == 1)
        #expect(audit.first?.detail.contains("dashboard token \(TestTokens.accessor(of: token))") == true)
        #expect(try admin.world.vault().auditRecords().records.allSatisfy { !$0.detail.contains("cvi_") })
    }

    @Test("form errors are shown next to their fields, and nothing is created")
    func formErrors() async throws {
        let admin = try AdminWorld()
        let token = try admin.world.tokens.add(scopes: [.onboardingWrite])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            _ = try await browser.get(client, "/admin/invitations")
            let response = try await browser.post(
                client, "/admin/invitations", [("tenant", "../etc"), ("kind", "other"), ("days", "365")])
            #expect(response.status == .badRequest)
            #expect(response.text.contains(#"id="form-errors""#))
            for field in ["tenant", "kind", "days"] {
                #expect(response.text.contains(#"aria-describedby="error-\#(field)""#), "\(field)")
                #expect(response.text.contains(#"id="error-\#(field)""#), "\(field)")
            }
            #expect(Self.link(response.text) == nil)
            #expect(response.text.contains(#"value="../etc""#), "what was typed is kept")
        }
        #expect(try admin.services.invitations?.list().isEmpty == true)
    }

    @Test("a token without onboarding:write gets #forbidden for the page and the form, and no invitation is made")
    func withoutScope() async throws {
        let admin = try AdminWorld()
        let reader = try admin.world.tokens.add(scopes: [.tenantsRead, .onboardingRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: reader)
            let page = try await browser.get(client, "/admin/invitations")
            #expect(page.status == .forbidden)
            #expect(page.problemID == "forbidden")
            #expect(page.text.contains("onboarding:write"))
            let post = try await browser.post(client, "/admin/invitations", [("tenant", "woodgrove"), ("kind", "onboarding"), ("days", "7")])
            #expect(post.status == .forbidden)
            #expect(post.problemID == "forbidden")
            #expect(Self.link(post.text) == nil)
        }
        #expect(try admin.services.invitations?.list().isEmpty == true)
    }

    @Test("a tenant outside the grant: creating answers 404 like a missing tenant; its invitations are not listed and cannot be revoked")
    func outsideGrant() async throws {
        let admin = try AdminWorld()
        let store = try #require(admin.services.invitations)
        let other = try store.create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: 86_400, createdBy: "cli:test",
            now: admin.clock.now)
        let token = try admin.world.tokens.add(scopes: [.onboardingWrite], tenants: ["eu-*"])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin/invitations")
            #expect(!page.text.contains(other.invitation.id))
            let create = try await browser.post(client, "/admin/invitations", [("tenant", "contoso"), ("kind", "onboarding"), ("days", "7")])
            #expect(create.status == .notFound)
            #expect(create.problemID == "not-found")
            let revoke = try await browser.post(client, "/admin/invitations/\(other.invitation.id)/revoke")
            let unknown = try await browser.post(client, "/admin/invitations/0123456789abcdef/revoke")
            #expect(revoke.status == .notFound)
            #expect(unknown.status == .notFound)
            #expect(
                AdminPagesTests.problem(revoke.text).replacingOccurrences(of: other.invitation.id, with: "X")
                    == AdminPagesTests.problem(unknown.text).replacingOccurrences(of: "0123456789abcdef", with: "X"))
        }
        #expect(try store.invitation(id: other.invitation.id)?.status == .active)
    }

    @Test("revoking: the invitation stops working; audited")
    func revoke() async throws {
        let admin = try AdminWorld()
        let store = try #require(admin.services.invitations)
        let made = try store.create(
            tenant: try TenantID("woodgrove"), kind: .onboarding, displayName: nil, lifetimeSeconds: 86_400, createdBy: "cli:test",
            now: admin.clock.now)
        let token = try admin.world.tokens.add(scopes: [.onboardingWrite])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin/invitations")
            #expect(page.text.contains(#"action="/admin/invitations/\#(made.invitation.id)/revoke""#))
            let response = try await browser.post(client, "/admin/invitations/\(made.invitation.id)/revoke")
            #expect(response.status == .seeOther)
            let after = try await browser.get(client, try #require(response.headers[.location]))
            #expect(after.text.contains("Invitation \(made.invitation.id) is revoked."))
            #expect(after.text.contains(#"data-invitation="\#(made.invitation.id)" data-tenant="woodgrove" data-state="revoked""#))
        }
        #expect(try store.invitation(id: made.invitation.id)?.status == .revoked)
        #expect(try admin.world.auditRecords("invitation.revoke").count == 1)
    }

    @Test("without the invitation store (no portal) the page says so instead of failing")
    func noPortal() async throws {
        let admin = try AdminWorld(invitations: false)
        let token = try admin.world.tokens.add(scopes: [.onboardingWrite])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin/invitations")
            #expect(page.status == .ok)
            #expect(page.text.contains(#"id="portal-off""#))
            let post = try await browser.post(client, "/admin/invitations", [("tenant", "woodgrove"), ("kind", "onboarding"), ("days", "7")])
            #expect(post.status == .serviceUnavailable)
        }
    }
}
