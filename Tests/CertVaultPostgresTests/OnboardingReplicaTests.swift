import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultPostgres
import CertVaultTesting
import CertVaultVault
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Logging
import Synchronization
import Testing

/// Two "replicas" in one process: each with its own PostgresDatabase (its own pool, its own replica
/// id), its own vault handle (PostgresVaultStorage) and VB365 client, sharing one database (records, leases and
/// the vault) and one simulator.
final class ReplicaWorld: @unchecked Sendable {
    static let user = "VB365\\operator"
    static let password = "replica-test-password"
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    static let executor = DedicatedThreadExecutor(name: "replica-workers")

    let simulator: VB365Simulator
    let dir: TemporaryDirectory
    let caFile: String
    let server: PostgresTestServer
    let databaseName: String
    let policy: IssuancePolicy

    init?() throws {
        if let reason = PostgresTestServer.unavailableReason {
            if TestEnvironment.toolsRequired { Issue.record("PostgreSQL is required here (CERTVAULT_REQUIRE_TOOLS=1): \(reason)") }
            return nil
        }
        server = try PostgresTestServer.shared()
        databaseName = try server.makeDatabase()
        simulator = try VB365Simulator(configuration: .init(version: .v8, users: [Self.user: Self.password]))
        try simulator.start()
        dir = try TemporaryDirectory()
        caFile = try dir.write("ca.pem", simulator.identity!.certificatePEM)
        policy = try PolicyLoader.load(path: TestEnvironment.policy("default"))
    }

    deinit { simulator.stop() }

    /// A replica's database pool, named `replica` (its replica id).
    func database(_ replica: String) throws -> PostgresDatabase {
        var settings = try PostgresSettings(url: server.url(database: databaseName), password: .file(server.passwordFile), timeoutSeconds: 10)
        settings.replicaID = replica
        let database = try PostgresDatabase(settings: settings)
        try database.migrate()
        // One vault shared by the replicas, in the same database (the root key file is local to each "replica").
        let storage = PostgresVaultStorage(database: database)
        if try !Vault.exists(storage: storage) {
            _ = try Vault.create(storage: storage, protection: .keyFile(path: dir.file("key/root.key")))
        }
        return database
    }

    func onboarding(_ database: PostgresDatabase, leaseSeconds: Double) throws -> Onboarding {
        let client = try VB365Client(configuration: .init(serverURL: simulator.baseURL, username: Self.user,
                                                          http: .init(trust: .caFile(caFile), connectTimeout: 5, totalTimeout: 10),
                                                          retry: .init(maximumAttempts: 3, baseDelay: 0.01, maximumDelay: 0.05)),
                                     password: Array(Self.password.utf8).withUnsafeBytes { SecretBytes(copying: $0) }, logger: Self.logger)
        let vault = try Vault.open(storage: PostgresVaultStorage(database: database), unlock: .keyFile(path: dir.file("key/root.key")))
        let store = OnboardingStore(backend: PostgresOnboardingBackend(database: database, leaseSeconds: leaseSeconds))
        let onboarding = Onboarding(client: client, vault: vault, store: store, issuer: Issuer(policy: policy, logger: Self.logger),
                                    logger: Self.logger)
        onboarding.pollInterval = 0.1
        return onboarding
    }

    func intake(_ tenant: String) throws -> OnboardingRecord.Intake {
        OnboardingRecord.Intake(tenant: try TenantID(tenant), displayName: tenant.capitalized, officeName: "\(tenant).onmicrosoft.com",
                                region: .worldwide)
    }

    /// Starts the onboardings through both replicas at once (alternating), four at a time.
    func startAll(_ tenants: [String], through replicas: [Onboarding]) throws -> [String: String] {
        let results = concurrently(4) { lane -> [(String, String)] in
            var codes: [(String, String)] = []
            for (index, tenant) in tenants.enumerated() where index % 4 == lane {
                let record = try replicas[index % replicas.count].startIssuingMeanwhile(try self.intake(tenant))
                codes.append((tenant, try #require(record.userCode)))
            }
            return codes
        }
        var codes: [String: String] = [:]
        for result in results { for (tenant, code) in try result.get() { codes[tenant] = code } }
        return codes
    }

    func posts() -> Int { simulator.received().filter { $0.method == "POST" && $0.path.lowercased().hasSuffix("/organizations") }.count }

    func worker(_ onboarding: Onboarding, jobLease: JobLease? = nil) -> (OnboardingWorker, Task<Void, Never>) {
        let worker = OnboardingWorker(onboarding: onboarding,
                                      settings: .init(pollInterval: 0.1, concurrency: 4, maximumBackoff: 1, drainSeconds: 5),
                                      logger: Self.logger, jobLease: jobLease)
        let task = Task(executorPreference: Self.executor) { await worker.run() }
        return (worker, task)
    }
}

/// Waits until `condition` holds, polling; false after `seconds`.
func eventually(_ seconds: Double = 240, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try condition()
}

@Suite("Onboarding on PostgreSQL: records shared by replicas, one add per tenant, takeover after a replica dies", .serialized)
struct OnboardingReplicaTests {
    @Test("the file and PostgreSQL backends store the same JSON bytes for a record")
    func sameBytes() throws {
        guard let (database, _, _) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let dir = try TemporaryDirectory()
        let files = try OnboardingStore(folder: dir.file("onboarding"))
        let rows = OnboardingStore(backend: PostgresOnboardingBackend(database: database))
        var record = OnboardingRecord(intake: .init(tenant: try TenantID("contoso"), displayName: "Contoso",
                                                    officeName: "contoso.onmicrosoft.com", region: .worldwide),
                                      serverURL: "https://vb365.example:4443", now: "2026-12-02T07:00:00Z")
        record.userCode = "ABCDEFGHJ"
        try files.save(record)
        try rows.save(record)
        let fileBytes = try #require(FileManager.default.contents(atPath: dir.file("onboarding/contoso.json")))
        #expect(try rows.backend.read(try TenantID("contoso")) == Array(fileBytes), "the row holds the file's bytes")
        #expect(try rows.load(try TenantID("contoso")) == record)
        #expect(try rows.all().map(\.intake.tenant.rawValue) == ["contoso"])
    }

    @Test("two replicas, one database, one VB365: 100 onboardings, every customer signs in, 100 organizations, none twice")
    func hundredOnboardings() async throws {
        guard let world = try ReplicaWorld() else { return }
        let databaseA = try world.database("replica-a")
        let databaseB = try world.database("replica-b")
        defer { databaseA.shutdown(); databaseB.shutdown() }
        let replicas = [try world.onboarding(databaseA, leaseSeconds: 5), try world.onboarding(databaseB, leaseSeconds: 5)]
        let tenants = (1...100).map { String(format: "tenant%03d", $0) }
        let codes = try world.startAll(tenants, through: replicas)
        #expect(codes.count == 100)

        // Both workers run on every tenant (no job lease): the tenants' leases keep them apart.
        let (workerA, taskA) = world.worker(replicas[0])
        let (workerB, taskB) = world.worker(replicas[1])
        for tenant in tenants { #expect(world.simulator.signIn(userCode: try #require(codes[tenant]))) }
        let store = replicas[0].store
        let began = Date()
        let allOnboarded = try await eventually { try store.all().filter { $0.state == .onboarded }.count == 100 }
        let seconds = Date().timeIntervalSince(began)
        workerA.stop()
        workerB.stop()
        await taskA.value
        await taskB.value

        #expect(allOnboarded, "every record onboarded")
        let organizations = world.simulator.storedOrganizations()
        let names = organizations.compactMap(\.officeName)
        #expect(organizations.count == 100)
        #expect(Set(names).count == 100, "no organization twice")
        #expect(Set(names) == Set(tenants.map { "\($0).onmicrosoft.com" }))
        #expect(world.posts() == 100, "one POST Organizations per tenant")
        for record in try store.all() { #expect(record.organizationId != nil, "\(record.intake.tenant) has its organization id") }
        print("two replicas: 100 onboardings from sign-in to onboarded in \(String(format: "%.1f", seconds)) s, "
              + "\(world.posts()) POSTs, \(Set(names).count) organizations")
    }

    @Test("a replica dies in the middle of adds (leases never released): the other takes over after expiry, reconciles, finishes, no duplicate")
    func takeoverAfterDeath() async throws {
        guard let world = try ReplicaWorld() else { return }
        let databaseA = try world.database("replica-a")
        let databaseB = try world.database("replica-b")
        defer { databaseA.shutdown(); databaseB.shutdown() }
        let leaseSeconds = 2.0
        let replicaA = try world.onboarding(databaseA, leaseSeconds: leaseSeconds)
        let replicaB = try world.onboarding(databaseB, leaseSeconds: leaseSeconds)
        replicaB.repostGrace = 3
        let tenants = (1...20).map { String(format: "dying%02d", $0) }
        let codes = try world.startAll(tenants, through: [replicaA, replicaB])
        // Each add takes a while in VB365, so replica A dies with adds in flight: long enough that A
        // cannot finish all 20 before the kill even when this task is slow to be scheduled (0.4 s
        // was not, in a CI run with the other suites beside it).
        world.simulator.delay("POST Organizations", seconds: 2.5)

        let jobA = JobLease(name: JobLease.onboardingWorker, leases: PostgresLeases(database: databaseA), holder: "replica-a",
                            seconds: leaseSeconds, logger: ReplicaWorld.logger)
        let jobB = JobLease(name: JobLease.onboardingWorker, leases: PostgresLeases(database: databaseB), holder: "replica-b",
                            seconds: leaseSeconds, logger: ReplicaWorld.logger)
        #expect(jobA.hold(), "replica A runs the worker first")
        let (_, taskA) = world.worker(replicaA, jobLease: jobA)
        let (workerB, taskB) = world.worker(replicaB, jobLease: jobB)
        for tenant in tenants { #expect(world.simulator.signIn(userCode: try #require(codes[tenant]))) }
        #expect(await eventually { world.posts() >= 3 }, "replica A is adding")
        #expect(world.posts() < tenants.count, "and not done yet")

        // SIGKILL, in-process: A's loop is cancelled and its database pool stops, so it never
        // releases or renews a lease again, and its threads' writes fail.
        taskA.cancel()
        databaseA.shutdown()
        world.simulator.delay("POST Organizations", seconds: 0.2)
        let postsAtDeath = world.posts()
        let death = Date()

        let store = replicaB.store
        // Adds A sent but never recorded as done: B must find them through GET before sending anything.
        let onboardedAtDeath = try store.all().filter { $0.state == .onboarded }.count
        let allOnboarded = try await eventually { try store.all().allSatisfy { $0.state == .onboarded } }
        let finishing = Date().timeIntervalSince(death)
        workerB.stop()
        await taskB.value
        await taskA.value

        #expect(allOnboarded, "replica B finished every onboarding")
        #expect(jobB.lease?.takenOver == true || (jobB.lease?.fence ?? 0) > 1, "B holds the worker's job lease, taken over from A")
        let names = world.simulator.storedOrganizations().compactMap(\.officeName)
        #expect(names.count == tenants.count)
        #expect(Set(names).count == tenants.count, "no organization twice")
        #expect(world.posts() == tenants.count, "no POST sent again for an add A had in flight (\(postsAtDeath) sent before it died)")
        let gets = world.simulator.received().filter { $0.method == "GET" && $0.path.lowercased().contains("/organizations") }
        let reconciled = try store.all().filter { record in
            record.history.contains { $0.note.contains("found in VB365 after an unfinished add") }
        }
        // How many adds were in flight depends on where the kill fell (the machine's load): when A had
        // sent more POSTs than it recorded, B must have reconciled them; when it had not, there was
        // nothing to reconcile and the counts above already prove no add was repeated.
        if postsAtDeath > onboardedAtDeath {
            #expect(!gets.isEmpty, "B looked the organizations up before sending anything")
            #expect(!reconciled.isEmpty, "B found, through GET Organizations, adds A had sent but not recorded")
        }
        print("takeover: A sent \(postsAtDeath) POSTs, \(onboardedAtDeath) recorded onboarded at its death; B reconciled \(reconciled.count)")
        print("takeover: \(postsAtDeath) POSTs before replica A died, \(reconciled.count) adds in flight reconciled by B "
              + "through GET, \(world.posts()) POSTs in all for \(tenants.count) tenants, all onboarded \(String(format: "%.1f", finishing)) s "
              + "after the death (lease 2 s)")
    }
}
