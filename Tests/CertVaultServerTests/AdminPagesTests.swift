import CertVaultAccess
import CertVaultCore
import CertVaultVault
import CertVaultConfiguration
import CertVaultOnboarding
@testable import CertVaultServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Dashboard pages: tenants, chart, rotation, audit, authorized as the API is", .serialized)
struct AdminPagesTests {
    @Test("every dashboard action needs the scope of the API route that does the same")
    func scopesMatchTheAPI() {
        for action in AdminController.Action.allCases {
            guard let route = APIRoutes.all.first(where: { $0.operationID == action.apiOperation }) else { continue }
            #expect(route.scope == action.scope, "\(action)")
        }
    }

    @Test("the tenants table: a row per covered tenant with state, active generation, expiry and VB365 ids; filter by text and state")
    func tenantsTable() async throws {
        let admin = try AdminWorld()
        try admin.world.onboard("contoso")
        try admin.world.issue("fabrikam")
        let token = try admin.world.tokens.add(scopes: [.tenantsRead])
        let record = try #require(try admin.world.services.onboardingStore.load(try TenantID("contoso")))
        let organization = try #require(record.organizationId)
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin")
            #expect(page.status == .ok)
            #expect(page.text.contains(#"<table id="tenants""#))
            #expect(page.text.contains(#"<tr data-tenant="contoso" data-state="onboarded""#))
            #expect(page.text.contains(#"<tr data-tenant="fabrikam" data-state="none""#))
            #expect(page.text.contains(organization))
            #expect(page.text.contains(#"<form id="filter""#))
            #expect(!page.text.contains("action=\"/admin/tenants/contoso/rotate\""), "no rotate button without certificates:rotate")
            let byText = try await browser.get(client, "/admin?q=FABRI&state=")
            #expect(byText.text.contains(#"data-tenant="fabrikam""#))
            #expect(!byText.text.contains(#"data-tenant="contoso""#))
            #expect(byText.text.contains("1 of 2 tenants match the filter"))
            let byState = try await browser.get(client, "/admin?q=&state=onboarded")
            #expect(byState.text.contains(#"data-tenant="contoso""#))
            #expect(!byState.text.contains(#"data-tenant="fabrikam""#))
            #expect(byState.text.contains(#"<option value="onboarded" selected>"#))
        }
    }

    @Test("the chart's bars are the vault's active certificates per month")
    func chartMatchesVault() async throws {
        let admin = try AdminWorld()
        // Issued 400, 100 and 0 days ago: 730-day certificates that expire in three different months.
        try admin.issue("alpha", daysAgo: 800)
        try admin.issue("alpha", daysAgo: 400)  // a second generation: each tenant counts once, with its newest active one
        try admin.issue("beta", daysAgo: 100)
        try admin.issue("gamma", daysAgo: 0)
        let token = try admin.world.tokens.add(scopes: [.tenantsRead])
        let entries = try admin.world.vault().list()
        var newest: [TenantID: EntrySummaryView] = [:]
        for entry in entries where entry.metadata.status == .active {
            if (newest[entry.tenant]?.generation ?? 0) < entry.generation {
                newest[entry.tenant] = EntrySummaryView(generation: entry.generation, notAfter: entry.metadata.notAfter)
            }
        }
        let expected = ExpiryChart(now: admin.clock.now, notAfter: newest.values.compactMap { UTCTime.parse($0.notAfter) })
        #expect(expected.total == 3)
        #expect(expected.months.filter { $0.count > 0 }.count == 3, "three different months")
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin")
            #expect(page.text.contains(#"<svg xmlns="http://www.w3.org/2000/svg" id="expiry-chart""#))
            let bars = try AdminExpiryChartTests.bars(page.text)
            #expect(bars.count == 25)
            #expect(bars.map(\.month) == expected.months.map(\.key))
            #expect(bars.map(\.count) == expected.months.map(\.count))
            #expect(bars.reduce(0) { $0 + $1.count } == 3)
            #expect(page.text.contains(#"<table id="expiry-table""#))
        }
    }

    @Test("a hostile display name renders as text in the table")
    func hostileDisplayName() async throws {
        let admin = try AdminWorld()
        let hostile = #"<script>alert("x")</script><img src=x onerror='y'> & "quotes""#
        let intake = OnboardingRecord.Intake(tenant: try TenantID("evil"), displayName: hostile, officeName: "evil.onmicrosoft.com")
        try admin.world.services.onboardingStore.save(OnboardingRecord(intake: intake, serverURL: "https://vb365.invalid", now: "2026-01-01T00:00:00Z"))
        let token = try admin.world.tokens.add(scopes: [.tenantsRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin")
            #expect(page.text.contains(#"data-tenant="evil""#))
            #expect(!page.text.contains("<script>alert"))
            #expect(!page.text.contains("<img src=x"))
            #expect(page.text.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;y&#39;&gt; &amp; &quot;quotes&quot;"))
            // Typed into the filter, it comes back as text too.
            let filtered = try await browser.get(client, "/admin?q=" + AdminBrowser.encode(hostile))
            #expect(!filtered.text.contains("<script>alert"))
            #expect(filtered.text.contains(#"value="&lt;script&gt;alert(&quot;x&quot;)"#))
        }
    }

    @Test("a tenant outside the grant is invisible: not in the table, not in the chart, rotating it is 404 like a tenant that does not exist")
    func tenantOutsideGrant() async throws {
        let admin = try AdminWorld()
        try admin.world.onboard("contoso")
        try admin.world.issue("eu-west")
        let token = try admin.world.tokens.add(scopes: [.tenantsRead, .certificatesRotate, .auditRead], tenants: ["eu-*"])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin")
            #expect(page.text.contains(#"data-tenant="eu-west""#))
            #expect(!page.text.contains("contoso"))
            #expect(try AdminExpiryChartTests.bars(page.text).reduce(0) { $0 + $1.count } == 1)
            let outside = try await browser.post(client, "/admin/tenants/contoso/rotate")
            let missing = try await browser.post(client, "/admin/tenants/eu-nowhere/rotate")
            #expect(outside.status == .notFound)
            #expect(outside.problemID == "not-found")
            #expect(missing.status == .notFound)
            #expect(Self.problem(outside.text) == Self.problem(missing.text).replacingOccurrences(of: "eu-nowhere", with: "contoso"))
            let audit = try await browser.get(client, "/admin/audit")
            #expect(!audit.text.contains("contoso"), "audit records of other tenants are not shown")
        }
        #expect(try admin.world.auditRecords("dashboard.rotation").isEmpty)
    }

    @Test("a token without the scope gets the 403 page #forbidden: no rotation without certificates:rotate, no audit log without audit:read, no tenants without tenants:read")
    func scopeMissing() async throws {
        let admin = try AdminWorld()
        try admin.world.onboard("contoso")
        let readOnly = try admin.world.tokens.add(scopes: [.tenantsRead])
        let auditOnly = try admin.world.tokens.add(scopes: [.auditRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: readOnly)
            _ = try await browser.get(client, "/admin")
            let rotate = try await browser.post(client, "/admin/tenants/contoso/rotate")
            #expect(rotate.status == .forbidden)
            #expect(rotate.problemID == "forbidden")
            #expect(rotate.text.contains("certificates:rotate"))
            let audit = try await browser.get(client, "/admin/audit")
            #expect(audit.status == .forbidden)
            #expect(audit.problemID == "forbidden")
            var auditor = AdminBrowser()
            _ = try await auditor.signIn(client, token: auditOnly)
            let tenants = try await auditor.get(client, "/admin")
            #expect(tenants.status == .forbidden)
            #expect(tenants.problemID == "forbidden")
            #expect(tenants.text.contains(#"<form id="logout""#), "a forbidden page still lets the operator sign out")
        }
        #expect(try admin.world.auditRecords("dashboard.rotation").isEmpty)
        let record = try #require(try admin.world.services.onboardingStore.load(try TenantID("contoso")))
        #expect(record.rotation == nil, "nothing was started")
    }

    @Test("rotate: the API's own code path starts the rotation; the page shows its phase; audited")
    func rotate() async throws {
        let admin = try AdminWorld()
        try admin.world.onboard("contoso")
        let token = try admin.world.tokens.add(scopes: [.tenantsRead, .certificatesRotate])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin")
            #expect(page.text.contains(#"action="/admin/tenants/contoso/rotate""#))
            let response = try await browser.post(client, "/admin/tenants/contoso/rotate")
            #expect(response.status == .ok)
            #expect(response.text.contains(#"id="rotation-result" data-tenant="contoso" data-phase="awaiting-customer""#))
            #expect(response.text.contains(#"<code id="user-code">"#))
        }
        let record = try #require(try admin.world.services.onboardingStore.load(try TenantID("contoso")))
        #expect(record.rotation?.phase == .awaitingCustomer)
        let audit = try admin.world.auditRecords("dashboard.rotation")
        #expect(audit.count == 1)
        #expect(audit.first?.tenant == "contoso")
    }

    @Test("the audit log page: table#audit, newest first, the dashboard's own actions in it")
    func auditPage() async throws {
        let admin = try AdminWorld()
        let token = try admin.world.tokens.add(scopes: [.auditRead])
        try await admin.app().test(.router) { client in
            var browser = AdminBrowser()
            _ = try await browser.signIn(client, token: "cvt_wrong")
            _ = try await browser.signIn(client, token: token)
            let page = try await browser.get(client, "/admin/audit")
            #expect(page.status == .ok)
            #expect(page.text.contains(#"<table id="audit""#))
            let login = try #require(page.text.range(of: "dashboard.login<"))
            let failed = try #require(page.text.range(of: "dashboard.login-failed"))
            #expect(login.lowerBound < failed.lowerBound, "newest first")
            #expect(page.text.contains("chain of records verifies"))
        }
    }

    /// The problem section of a page, without the layout.
    static func problem(_ page: String) -> String {
        guard let start = page.range(of: "<section class=\"card narrow problem\""), let end = page.range(of: "</section>") else {
            return ""
        }
        return String(page[start.lowerBound..<end.upperBound])
    }
}

struct EntrySummaryView {
    let generation: Int
    let notAfter: String
}
