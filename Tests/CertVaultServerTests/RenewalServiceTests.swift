import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultServer
import CertVaultTesting
import CertVaultVault
import CertVaultVB365Simulator
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Reports of the passes the service ran.
final class PassLog: Sendable {
    private let reports = Mutex<[RenewalScheduler.PassReport?]>([])
    func add(_ report: RenewalScheduler.PassReport?) { reports.withLock { $0.append(report) } }
    var count: Int { reports.withLock { $0.count } }
    var last: RenewalScheduler.PassReport? { reports.withLock { $0.last ?? nil } }
}

extension APIWorld {
    /// Makes the certificate VB365 uses for `tenant` end `days` days from now.
    func expire(_ tenant: String, inDays days: Int, generation: Int = 1) throws {
        let notAfter = UTCTime.dateTime(UTCTime.now() + Int64(days) * 86_400 + 3_600)
        try vault().updateMetadata(tenant: try TenantID(tenant), generation: generation, action: "test.expiry") { $0.notAfter = notAfter }
    }

    /// The scheduler service as `serve` makes it, over this world's services.
    func renewalService(metrics: ServiceMetrics? = nil, log: PassLog = PassLog(), interval: Duration = .seconds(3600)) throws
        -> RenewalSchedulerService {
        let made = RenewalSchedulerService.make(services: services, vault: try vault(), renewBeforeDays: 60, invitations: nil,
                                                logger: APIWorld.logger)
        return RenewalSchedulerService(scheduler: made.scheduler, interval: interval, clock: services.clock, metrics: metrics,
                                       logger: APIWorld.logger, onPass: { log.add($0) })
    }
}

@Suite("Renewal in the service: tenant views, metrics, the scheduler service, expiring lists", .serialized)
struct RenewalServiceTests {
    static let executor = DedicatedThreadExecutor(name: "renewal-service-tests")

    @Test("GET /v1/tenants and /v1/tenants/{tenant} show the renewal state, the urgent date and VB365 drift")
    func tenantViews() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        try world.onboard("fabrikam")
        try world.expire("contoso", inDays: 20)
        let fabrikam = try #require(try world.services.onboardingStore.load(try TenantID("fabrikam")))
        world.simulator.deleteOrganization(id: try #require(fabrikam.organizationId))
        let metrics = ServiceMetrics()
        let service = try world.renewalService(metrics: metrics)
        let report = try #require(await service.runPass())
        #expect(report.examined == 2)
        let token = try world.tokens.add(scopes: [.tenantsRead])
        try await world.app().test(.router) { client in
            let detail = try await client.call(.get, "/v1/tenants/contoso", token: token).object
            let renewal = try #require((detail["onboarding"] as? [String: Any])?["renewal"] as? [String: Any])
            #expect(renewal["state"] as? String == "renewal-due")
            #expect(renewal["daysLeft"] as? Int == 20)
            #expect(renewal["urgent"] as? Bool == false)
            #expect(renewal["urgentAt"] as? String != nil)
            #expect(renewal["remindersSent"] as? [Int] == [60, 30])
            #expect((renewal["nextStep"] as? String)?.contains("certvault rotate contoso") == true)

            let list = try await client.call(.get, "/v1/tenants", token: token).object
            let items = try #require(list["tenants"] as? [[String: Any]])
            let gone = try #require(items.first { $0["tenant"] as? String == "fabrikam" })
            let drift = try #require((gone["renewal"] as? [String: Any])?["drift"] as? [String: Any])
            #expect(drift["kind"] as? String == "organization-missing")
            #expect(drift["organizationId"] as? String == fabrikam.organizationId)
            #expect((gone["renewal"] as? [String: Any])?["state"] as? String == "current")
        }
        let text = try PrometheusText(metrics.text())
        #expect(text.value("certvault_renewal_tenants", ["state": "renewal-due"]) == 1)
        #expect(text.value("certvault_renewal_tenants", ["state": "current"]) == 1)
        #expect(text.value("certvault_renewal_tenants", ["state": "expired"]) == 0)
        #expect(text.value("certvault_vb365_drift_tenants", ["kind": "organization-missing"]) == 1)
        #expect(text.value("certvault_vb365_drift_tenants", ["kind": "unknown-certificate"]) == 0)
        #expect(text.value("certvault_renewal_passes_total", ["outcome": "completed"]) == 1)
        #expect((text.value("certvault_renewal_last_pass_timestamp_seconds") ?? 0) > 0)
    }

    @Test("GET /metrics refreshes the renewal gauges from the onboarding records")
    func metricsFromRecords() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        try world.expire("contoso", inDays: -1)
        _ = try await world.renewalService().runPass()
        let metrics = ServiceMetrics()
        await metrics.refresh(from: world.services)
        let text = try PrometheusText(metrics.text())
        #expect(text.value("certvault_renewal_tenants", ["state": "expired"]) == 1)
        let expiry = try #require(text.value("certvault_certificate_expiration_timestamp_seconds", ["tenant": "contoso"]))
        #expect(expiry < Double(UTCTime.now()), "the expiry gauge already exists and agrees")
    }

    @Test("the scheduler service runs a pass at start and stops at graceful shutdown without waiting for the next")
    func serviceLifecycle() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        try world.expire("contoso", inDays: 10)
        let log = PassLog()
        let service = try world.renewalService(log: log, interval: .seconds(3600))
        let group = ServiceGroup(configuration: .init(services: [service], logger: APIWorld.logger))
        let running = Task(executorPreference: Self.executor) { try await group.run() }
        #expect(await eventuallyAsync(120) { log.count >= 1 })
        #expect(log.last?.states[.renewalDue] == 1)
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(ContinuousClock.now - started < .seconds(30), "the hour's sleep ends at shutdown")
        #expect(log.count == 1)
        #expect(try world.services.onboardingStore.load(try TenantID("contoso"))?.renewal?.state == .renewalDue)
    }

    @Test("'certvault list --expiring 30d --json' and GET /v1/tenants?expiringWithin=30d name the same tenants")
    func cliAndAPIAgree() async throws {
        let binary = "\(TestEnvironment.productsDirectory)/certvault"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            try #require(!TestEnvironment.toolsRequired, "the certvault binary is not built at \(binary)")
            return
        }
        let world = try APIWorld()
        let vault = try world.vault()
        _ = try vault.fillSynthetic(tenants: 6, prefix: "x", auditRecordsPerEntry: false)
        try world.expire("x0", inDays: 10)  // inside
        try world.expire("x1", inDays: 45)  // outside
        try world.expire("x2", inDays: -5)  // already expired: inside
        // x3: two active generations, the older (still used by VB365 during a rotation) ends first.
        try world.issue("x3")
        try world.expire("x3", inDays: 20, generation: 1)
        // x4: the expiring generation is superseded: outside.
        try world.issue("x4")
        try world.expire("x4", inDays: 5, generation: 1)
        try vault.updateMetadata(tenant: try TenantID("x4"), generation: 1, action: "test.supersede") { $0.status = .superseded }
        // x5: 29 days and 23 hours: inside on both sides.
        try world.expire("x5", inDays: 29)

        let output = try ProcessRunner.run(binary, ["list", "--expiring", "30d", "--json", "--vault", world.dir.file("vault"),
                                                    "--key-file", world.dir.file("key/root.key")])
        try #require(output.status == 0, "\(output.stderr)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]])
        let fromCLI = Set(entries.compactMap { $0["tenant"] as? String })

        let token = try world.tokens.add(scopes: [.tenantsRead])
        try await world.app().test(.router) { client in
            let list = try await client.call(.get, "/v1/tenants?expiringWithin=30d", token: token).object
            let fromAPI = Set((list["tenants"] as? [[String: Any]] ?? []).compactMap { $0["tenant"] as? String })
            #expect(fromCLI == ["x0", "x2", "x3", "x5"])
            #expect(fromAPI == fromCLI)
        }
    }

    @Test("with the portal, a due tenant gets a renewal invitation in the invitation store (audited), kept while usable; one the operator made is adopted")
    func portalInvitations() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        try world.onboard("fabrikam")
        try world.expire("contoso", inDays: 20)
        try world.expire("fabrikam", inDays: 20)
        let store = try InvitationStore(path: InvitationStore.defaultPath(vault: world.dir.file("vault")), vault: try world.vault())
        let now = UTCTime.now()
        // The operator already sent fabrikam a renewal link.
        let sent = try store.create(tenant: try TenantID("fabrikam"), kind: .renewal, displayName: nil, lifetimeSeconds: 86_400,
                                    createdBy: "cli:operator", now: now)
        let invitations = PortalRenewalInvitations(store: store, vault: try world.vault(), lifetimeDays: 7)
        let scheduler = RenewalScheduler(store: world.services.onboardingStore, vault: try world.vault(), settings: .init(checkDrift: false),
                                         events: DiscardingEventSink(), onboarding: nil, invitations: invitations, logger: APIWorld.logger)
        let report = try scheduler.pass(now: now)
        #expect(report.invitationsCreated == 2, "one made for contoso, fabrikam's adopted")
        let contoso = try #require(try world.services.onboardingStore.load(try TenantID("contoso"))?.renewal)
        #expect(contoso.state == .awaitingCustomer)
        let madeId = try #require(contoso.invitationId)
        let made = try #require(try store.invitation(id: madeId))
        #expect(made.kind == .renewal)
        #expect(made.createdBy == "renewal-scheduler")
        #expect(made.expiresAt == now + 7 * 86_400)
        #expect(try world.services.onboardingStore.load(try TenantID("fabrikam"))?.renewal?.invitationId == sent.invitation.id)
        let audit = try world.vault().auditRecords().records.filter { $0.action == "invitation.create" }
        #expect(audit.contains { $0.tenant == "contoso" && $0.detail.contains(made.id) })
        #expect(!audit.contains { $0.detail.contains("cvi_") }, "never the token")

        _ = try scheduler.pass(now: now + 3_600)
        #expect(try store.list().filter { $0.tenant.rawValue == "contoso" }.count == 1, "still usable: no new one")
        _ = try store.revoke(id: made.id, now: now + 7_200)
        _ = try scheduler.pass(now: now + 10_800)
        #expect(try store.list().filter { $0.tenant.rawValue == "contoso" }.count == 2, "revoked: replaced")
    }

    @Test("the Prometheus alert rules in docs/examples parse and use only metrics the service exports")
    func alertRules() throws {
        let file = "\(TestEnvironment.packageRoot)/docs/examples/certvault-alerts.yml"
        try #require(FileManager.default.fileExists(atPath: file))
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        if let promtool {
            let checked = try ProcessRunner.run(promtool, ["check", "rules", file])
            #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        }
        // Without promtool: parsed as YAML by python, and every certvault_ name in an expression is exported.
        let script = """
            import re, sys, yaml
            doc = yaml.safe_load(open(sys.argv[1]))
            names = set()
            for group in doc["groups"]:
                assert group["name"] and group["rules"], group
                for rule in group["rules"]:
                    assert rule["alert"] and rule["expr"] and rule["annotations"]["summary"], rule
                    assert rule["labels"]["severity"] in ("warning", "critical"), rule
                    names.update(re.findall(r"certvault_[a-z0-9_]+", rule["expr"]))
            print("\\n".join(sorted(names)))
            """
        let parsed = try ProcessRunner.run("/usr/bin/python3", ["-c", script, file])
        try #require(parsed.status == 0, "\(parsed.stderr)")
        let used = Set(parsed.stdout.split(separator: "\n").map(String.init))
        #expect(used.count >= 4)
        let metrics = ServiceMetrics()
        metrics.certificates([])
        let exported = try PrometheusText(metrics.text())
        let families = Set(exported.types.keys)
        for name in used {
            #expect(families.contains(name), "\(name) is not a metric of the service")
        }
    }
}

/// Waits until `condition` holds, polling every 50 ms; false after `seconds`.
func eventuallyAsync(_ seconds: Double, _ condition: @Sendable () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}
