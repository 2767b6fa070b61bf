import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultServer
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import CertVaultVault
import Foundation
import Hummingbird
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Why the browser tests cannot run here: Debian's `chromium` and `chromium-driver`, and Python's
/// `selenium` (empty when everything is installed).
let browserToolsMissing: [String] = {
    var missing: [String] = []
    let executable = { (paths: [String]) in paths.contains { FileManager.default.isExecutableFile(atPath: $0) } }
    if !executable(["/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
        missing.append("chromium (apt-get install chromium)")
    }
    if !executable(["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]) {
        missing.append("chromedriver (apt-get install chromium-driver)")
    }
    if !ExternalTool.python3.isAvailable || (try? ExternalTool.python3.run(["-c", "import selenium"]).status) != 0 {
        missing.append("selenium (python3 -m pip install selenium)")
    }
    return missing
}()

/// The service on loopback for a browser: the APIWorld's vault, tokens and simulator, the portal
/// configured with fixed names (the screenshots stay comparable), an invitation store, and the
/// onboarding worker, all running on a thread of their own.
final class BrowserWorld: @unchecked Sendable {
    static let executor = DedicatedThreadExecutor(name: "browser-service")
    static let provider = "Northwind Cloud Backup"

    let world: APIWorld
    let services: AppServices
    let invitations: InvitationStore
    let worker: OnboardingWorker
    let port: Int
    let workerPollSeconds: Double
    var base: String { "http://127.0.0.1:\(port)" }

    /// - Parameters:
    ///   - pollSeconds: `[portal] status_poll_seconds`.
    ///   - workerPollSeconds: the onboarding worker's interval between two `DeviceCode/check`s.
    init(pollSeconds: Int, workerPollSeconds: Double) throws {
        world = try APIWorld()
        self.workerPollSeconds = workerPollSeconds
        port = try Self.freePort()
        invitations = try InvitationStore(
            path: InvitationStore.defaultPath(vault: world.dir.file("vault")), vault: try world.vault())
        let logo = try world.dir.write("logo.svg", """
            <svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">\
            <rect width="40" height="40" rx="8" fill="#1f5fa8"/><path d="M10 22l7 7 13-16" stroke="#fff" \
            stroke-width="4" fill="none"/><text x="48" y="27" font-family="sans-serif" font-size="15" \
            fill="#1f2937">Northwind</text></svg>
            """)
        var services = world.services
        services.configuration.listen.host = "127.0.0.1"
        services.configuration.listen.port = port
        services.configuration.tls = .plainLoopback
        services.configuration.portal.publicURL = "http://127.0.0.1:\(port)"
        services.configuration.portal.providerName = Self.provider
        services.configuration.portal.providerLogo = logo
        services.configuration.portal.contact = "support@northwind-backup.example, +1 555 0100"
        services.configuration.portal.extraFields = ["Purchase order"]
        services.configuration.portal.statusPollSeconds = pollSeconds
        services.invitations = invitations
        worker = OnboardingWorker(
            onboarding: world.onboarding,
            settings: .init(pollInterval: workerPollSeconds, concurrency: 4, maximumBackoff: 2, drainSeconds: 1),
            logger: APIWorld.logger)
        let worker = worker
        services.onboardingChanged = { worker.wake() }
        self.services = services
    }

    /// A port nobody listens on now (the service needs it before it starts: the invitation links carry it).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw ToolMissing(name: "a free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// An invitation's link, as the dashboard shows it.
    func invite(
        _ tenant: String, kind: Invitation.Kind = .onboarding, name: String? = nil, lifetime: Int64 = 7 * 86_400,
        now: Int64 = UTCTime.now()
    ) throws -> (invitation: Invitation, link: String) {
        let (invitation, token) = try invitations.create(
            tenant: try TenantID(tenant), kind: kind, displayName: name ?? tenant.capitalized,
            lifetimeSeconds: lifetime, createdBy: "cli:browser-test", now: now)
        return (invitation, base + "/onboard/" + token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    /// Stores a certificate valid for `days` (the default policy's two years end just beyond the
    /// chart's 24 months).
    func issue(_ tenant: String, days: Int) throws {
        var policy = try PolicyLoader.builtInDefault()
        policy.validityDays = days
        let issuer = Issuer(policy: policy, logger: APIWorld.logger)
        let credential = try issuer.issue(IssuanceRequest(tenant: try TenantID(tenant)))
        _ = try world.vault().store(tenant: try TenantID(tenant), payload: EntryPayload(credential))
    }

    /// Runs the service and the worker while `body` runs.
    func serving<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let listening = WakeCounter()
        let app = buildApplication(
            services: services, logger: APIWorld.logger, additionalServices: [OnboardingWorkerService(worker: worker)],
            onServerRunning: { _ in listening.add() })
        // On a thread of its own: the suite's synchronous tests can hold the cooperative pool (COMMON pitfall).
        let running = Task(executorPreference: Self.executor) {
            try await app.runService(gracefulShutdownSignals: [])
        }
        defer { running.cancel() }
        let deadline = Date().addingTimeInterval(60)
        while listening.value == 0 {
            guard Date() < deadline else { throw ToolMissing(name: "the service did not listen within 60 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let result = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
        running.cancel()
        _ = await running.result
        return result
    }

    /// The configuration for portal_test.py as JSON, with the results file beside it.
    func encode(_ config: [String: Any]) throws -> (json: Data, results: String) {
        let results = world.dir.file("browser-\(PrivateFiles.randomName().prefix(6)).results")
        var config = config
        config["results"] = results
        return (try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), results)
    }

    /// Runs Tests/Browser/portal_test.py with `config` in a 0600 file named by an environment
    /// variable (it holds tokens: never in argv).
    func runBrowser(
        _ config: (json: Data, results: String), arguments: [String] = []
    ) throws -> (ProcessOutput, BrowserResults) {
        let configFile = config.results + ".json"
        try PrivateFiles.writeNewFile(configFile, bytes: config.json)
        let output = try ExternalTool.python3.run(
            [TestEnvironment.packageRoot + "/Tests/Browser/portal_test.py"] + arguments,
            environment: ["CERTVAULT_BROWSER_CONFIG": configFile])
        let data = FileManager.default.contents(atPath: config.results) ?? Data()
        let results = (try? JSONDecoder().decode(BrowserResults.self, from: data)) ?? BrowserResults(checks: [])
        return (output, results)
    }

    func baseConfig(
        links: [String: Any], tokens: [String: String], tenants: [String: String], screenshots: String?
    ) -> [String: Any] {
        [
            "base": base, "simulator": world.simulator.baseURL, "simulatorCA": world.dir.file("ca.pem"),
            "pollSeconds": services.configuration.portal.statusPollSeconds, "workerPollSeconds": workerPollSeconds,
            "links": links, "tokens": tokens, "tenants": tenants, "screenshots": screenshots ?? NSNull(),
        ]
    }
}

/// What portal_test.py wrote: one entry per named check.
struct BrowserResults: Decodable, Sendable {
    struct Check: Decodable, Sendable {
        var name: String
        var passed: Bool
        var detail: String
    }
    var checks: [Check]
}

@Suite(
    "The portal and the dashboard in headless Chromium",
    .serialized,
    .enabled(
        if: browserToolsMissing.isEmpty || TestEnvironment.toolsRequired,
        "missing \(browserToolsMissing.joined(separator: ", ")); CI installs them and runs this"))
struct BrowserTests {
    @Test("the customer's pages and the dashboard work in a real browser, as the issue lists")
    func portalInABrowser() async throws {
        #expect(browserToolsMissing.isEmpty, "missing \(browserToolsMissing.joined(separator: ", "))")
        let browser = try BrowserWorld(pollSeconds: 1, workerPollSeconds: 0.5)
        let world = browser.world
        // One tenant onboarded before (the dashboard lists it, the chart counts its certificate,
        // a renewal invitation is for it).
        try world.onboard("tailspin")
        try browser.issue("tailspin", days: 200)
        let happy = try browser.invite("contoso", name: "Contoso Ltd")
        let expiry = try browser.invite("northwind")
        let failure = try browser.invite("fabrikam")
        let noScript = try browser.invite("proseware")
        let renewal = try browser.invite("tailspin", kind: .renewal)
        let revoked = try browser.invite("litware")
        _ = try browser.invitations.revoke(id: revoked.invitation.id, now: UTCTime.now())
        let expired = try browser.invite("adatum", lifetime: 86_400, now: UTCTime.now() - 10 * 86_400)
        let unknown = browser.base + "/onboard/cvi_0123456789abcdef_" + String(repeating: "A", count: 43)
        let admin = try world.tokens.add(scopes: Set(Scope.allCases))
        let reader = try world.tokens.add(scopes: [.tenantsRead])
        // Screenshots go to docs/portal/ when asked (CERTVAULT_SCREENSHOTS=1), else beside the vault.
        let screenshots = ProcessInfo.processInfo.environment["CERTVAULT_SCREENSHOTS"] == "1"
            ? TestEnvironment.packageRoot + "/docs/portal" : world.dir.file("screenshots")
        let config = try browser.encode(browser.baseConfig(
            links: ["happy": happy.link, "expiry": expiry.link, "failure": failure.link, "renewal": renewal.link,
                    "nojs": noScript.link,
                    "revoked": revoked.link, "expired": expired.link, "unknown": unknown],
            tokens: ["admin": admin, "reader": reader],
            tenants: ["happy": "contoso", "onboarded": "tailspin", "invite": "woodgrove", "nojs": "proseware"],
            screenshots: screenshots))

        let started = Date()
        let (output, results) = try await browser.serving { try browser.runBrowser(config) }
        print("browser suite: \(Int(Date().timeIntervalSince(started))) s\n" + output.stdout.suffix(4000))
        #expect(output.status == 0, "portal_test.py: \(output.combined.suffix(3000))")
        #expect(results.checks.count > 50, "every scenario ran its checks")
        for check in results.checks {
            #expect(check.passed, "\(check.name): \(check.detail)")
        }

        // What the browser did, as the vault, the onboarding record and the invitation store see it.
        let record = try #require(try world.services.onboardingStore.load(try TenantID("contoso")))
        #expect(record.state == .onboarded)
        #expect(record.organizationId != nil && record.applicationId != nil, "VB365's ids are kept")
        #expect(record.intake.officeName == "contoso.onmicrosoft.com")
        #expect(record.intake.providerFields["Purchase order"] == "PO-4711", "the extra field is kept under its label")
        #expect(try world.vault().tenants().contains(try TenantID("contoso")), "the certificate is in the vault")
        #expect(world.simulator.storedOrganizations().contains { $0.officeName == "contoso.onmicrosoft.com" })
        #expect(try browser.invitations.invitation(id: happy.invitation.id)?.status == .completed)
        #expect(try world.services.onboardingStore.load(try TenantID("fabrikam"))?.state == .failed)
        #expect(try world.services.onboardingStore.load(try TenantID("proseware"))?.state == .onboarded, "onboarded without JavaScript")
        #expect(try browser.invitations.list().contains { $0.tenant.rawValue == "woodgrove" && $0.createdBy != "cli:browser-test" },
                "the dashboard's invitation is in the store, made by the admin token")
        #expect(!(try browser.invitations.list().contains { $0.tenant.rawValue == "denied-tenant" }),
                "the reader token made no invitation")
    }

    /// The figures of docs/benchmarks.md (portal section); asserts nothing about them. Run with
    /// `CERTVAULT_PORTAL_BENCH=1 swift test --skip-build --filter BrowserTests/portalBench`.
    @Test(
        "bench: page weight, first contentful paint, sign-in to Connected",
        .enabled(if: ProcessInfo.processInfo.environment["CERTVAULT_PORTAL_BENCH"] == "1", "set CERTVAULT_PORTAL_BENCH=1"))
    func portalBench() async throws {
        let environment = ProcessInfo.processInfo.environment
        let poll = Int(environment["CERTVAULT_PORTAL_BENCH_POLL"] ?? "") ?? 3
        let workerPoll = Double(environment["CERTVAULT_PORTAL_BENCH_WORKER_POLL"] ?? "") ?? 5
        let runs = Int(environment["CERTVAULT_PORTAL_BENCH_RUNS"] ?? "") ?? 5
        let browser = try BrowserWorld(pollSeconds: poll, workerPollSeconds: workerPoll)
        let links = try (0..<runs).map { try browser.invite("bench\($0)").link }
        let config = try browser.encode(browser.baseConfig(
            links: ["bench": links, "unknown": browser.base + "/onboard/cvi_0123456789abcdef_" + String(repeating: "A", count: 43)],
            tokens: [:], tenants: [:], screenshots: nil))
        let (output, _) = try await browser.serving { try browser.runBrowser(config, arguments: ["--bench"]) }
        print(output.stdout)
        #expect(output.status == 0, "portal_test.py --bench: \(output.combined.suffix(3000))")
    }
}
