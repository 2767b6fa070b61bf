import ArgumentParser
import CertVaultCore
import CertVaultHTTP
import CertVaultOnboarding
import CertVaultVault
import CertVaultVB365
import Foundation
import Logging
import Synchronization

/// One renewal scheduler pass over N onboarded tenants (synthetic generations in a real vault,
/// onboarding records on disk), with the drift check against the VB365 simulator holding the same
/// N organizations (1 % of them changed behind certvault's back). Reports wall time, peak memory
/// (VmHWM) and VB365 calls for the first pass (every tenant enters the renewal window: every
/// record written, two events each) and for a second pass (steady state: nothing to write), and
/// the baseline of the same run: reading the records and the vault's list alone.
struct RenewalBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renewal",
        abstract: "A renewal scheduler pass over N tenants with the VB365 drift check: time, peak memory, VB365 calls.")

    @Option(help: "Onboarded tenants.") var tenants = 10_000
    @Option(help: "API version served by the simulator (v8 pages organizations by 100; v6 lists them in one answer).")
    var apiVersion = "v8"
    @Option(help: "Per thousand tenants, organizations changed in VB365 behind certvault's back.") var driftPerMille = 10
    @Option(help: .hidden) var setupOnly: String?

    /// Counts events (and VB365 exchanges) without keeping them.
    final class CountingSink: LifecycleEventSink {
        let count = Mutex(0)
        func record(_ event: LifecycleEvent) throws { count.withLock { $0 += 1 } }
    }

    func run() throws {
        guard let version = VB365APIVersion(rawValue: apiVersion) else { throw ValidationError("--api-version must be v6, v7 or v8") }
        if let setupOnly {
            try Self.setUp(work: setupOnly, tenants: tenants, drifted: max(1, tenants * driftPerMille / 1000))
            return
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("certvault-bench-renewal-\(getpid())").path
        try PrivateFiles.makePrivateDirectory(work)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let drifted = max(1, tenants * driftPerMille / 1000)

        // Setup (not measured, in a child process so its memory is in no figure).
        let setupStarted = Date()
        _ = try Subprocess.check(CommandLine.arguments[0], ["renewal", "--tenants", String(tenants), "--drift-per-mille",
                                                            String(driftPerMille), "--setup-only", work])
        let vault = try Vault.open(at: "\(work)/vault", unlock: .keyFile(path: "\(work)/key/root.key"), actor: "bench")
        let store = try OnboardingStore(folder: "\(work)/onboarding")
        let storeFile = "\(work)/organizations.json"
        let simulator = try BenchSimulator(apiVersion: version.rawValue, work: work, store: storeFile)
        defer { simulator.stop() }
        let client = try VB365Client(configuration: .init(serverURL: simulator.url, version: version, username: "VB365\\admin",
                                                          http: .init(trust: .caFile(simulator.caFile))),
                                     password: try SecretSource.file(simulator.passwordFile).read(), logger: logger)
        let calls = CountingSink()
        client.observeExchanges { _ in calls.count.withLock { $0 += 1 } }
        try client.logIn()
        let setupSeconds = Date().timeIntervalSince(setupStarted)
        try Self.measure(vault: vault, store: store, client: client, calls: calls, tenants: tenants, version: version, drifted: drifted,
                         setupSeconds: setupSeconds, logger: logger)
    }

    /// The vault, the records and the simulator's organizations file, written without fsync.
    static func setUp(work: String, tenants: Int, drifted: Int) throws {
        PrivateFiles.durableWrites = false
        let vault = try Vault.create(at: "\(work)/vault", protection: .keyFile(path: "\(work)/key/root.key"), actor: "bench")
        _ = try vault.fillSynthetic(tenants: tenants, prefix: "r", auditRecordsPerEntry: false)
        let entries = try vault.list()
        let store = try OnboardingStore(folder: "\(work)/onboarding")
        var organizations: [[String: Any]] = []
        let encoder = JSONEncoder()
        for (index, entry) in entries.enumerated() {
            let organizationId = String(format: "00000000-0000-4000-8000-%012d", index)
            var record = OnboardingRecord(intake: .init(tenant: entry.tenant, displayName: entry.tenant.rawValue,
                                                        officeName: "\(entry.tenant.rawValue).onmicrosoft.com"),
                                          serverURL: "bench", now: "2026-01-01T00:00:00Z")
            record.move(to: .onboarded, "bench", at: "2026-01-01T00:00:00Z")
            record.generation = entry.generation
            record.thumbprint = entry.metadata.thumbprintSHA1
            record.organizationId = organizationId
            try store.save(record)
            // Not a synthetic thumbprint (those repeat one byte): VB365 reports a certificate the vault does not hold.
            let thumbprint = index < drifted ? "0123456789ABCDEF0123456789ABCDEF01234567" : entry.metadata.thumbprintSHA1
            var organization = VB365Organization(id: organizationId, name: record.intake.officeName, officeName: record.intake.officeName,
                                                 type: .office365, region: .worldwide)
            organization.exchangeOnlineSettings = VB365ConnectionSettings(useApplicationOnlyAuth: true, applicationId: organizationId,
                                                                          applicationCertificateThumbprint: thumbprint)
            let json = try JSONSerialization.jsonObject(with: encoder.encode(organization))
            organizations.append(["organization": json, "thumbprint": thumbprint, "certificateGenerations": 1])
        }
        try JSONSerialization.data(withJSONObject: organizations).write(to: URL(fileURLWithPath: "\(work)/organizations.json"))
    }

    /// The baseline and two passes, printed as a table.
    static func measure(vault: Vault, store: OnboardingStore, client: VB365Client, calls: CountingSink, tenants: Int,
                        version: VB365APIVersion, drifted: Int, setupSeconds: Double, logger: Logger) throws {
        print("certvault renewal benchmark: \(tenants) onboarded tenants, VB365 \(version.rawValue) simulator with \(drifted) drifted, "
              + "\(ProcessInfo.processInfo.activeProcessorCount) cores; setup \(String(format: "%.1f", setupSeconds)) s (not measured)")
        print("pass                          wall s   per tenant ms   VmHWM MiB   VB365 calls   records written   events   drift")

        // Baseline: what any pass must do, reading every record and the vault's list.
        var started = Date()
        let read = try store.all().count + vault.list().count
        let baseline = Date().timeIntervalSince(started)
        print(Self.row("baseline: read records + list", baseline, tenants, calls: 0, written: 0, events: 0, drift: 0))
        precondition(read == 2 * tenants)

        // notAfter of the synthetic generations is 2036-01-01: 31.5 days before, every tenant is due
        // (and an hour later no reminder day is crossed).
        let now = UTCTime.parse("2035-11-30T12:00:00Z")!
        let sink = CountingSink()
        let scheduler = RenewalScheduler(store: store, vault: try vault.anotherHandle(), settings: .init(), events: sink,
                                         onboarding: nil, client: client, invitations: nil, logger: logger)
        var passes: [(String, Double)] = []
        for (name, at) in [("first pass (all become due)", now), ("second pass (steady)", now + 3_600)] {
            let callsBefore = calls.count.withLock { $0 }
            let eventsBefore = sink.count.withLock { $0 }
            started = Date()
            let report = try scheduler.pass(now: at)
            let seconds = Date().timeIntervalSince(started)
            passes.append((name, seconds))
            precondition(report.examined == tenants && report.driftChecked, "\(report.problems.prefix(3))")
            print(Self.row(name, seconds, tenants, calls: calls.count.withLock { $0 } - callsBefore, written: report.recordsWritten,
                           events: sink.count.withLock { $0 } - eventsBefore, drift: report.drift.values.reduce(0, +)))
        }
        for (name, seconds) in passes {
            print("\(name): " + String(format: "%.1fx the baseline", seconds / baseline))
        }
    }

    static func row(_ name: String, _ seconds: Double, _ tenants: Int, calls: Int, written: Int, events: Int, drift: Int) -> String {
        name.padding(toLength: 29, withPad: " ", startingAt: 0)
            + String(format: " %7.2f   %13.3f   %9.1f   %11d   %15d   %6d   %5d", seconds, seconds * 1000 / Double(tenants),
                     ServiceMemoryBenchmark.status("VmHWM") / 1024, calls, written, events, drift)
    }
}
