import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import CertVaultVault
import CertVaultVB365Simulator
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The events a worker reported, collected for assertions.
final class WorkerEvents: Sendable {
    private let events = Mutex<[OnboardingWorker.Event]>([])

    func add(_ event: OnboardingWorker.Event) { events.withLock { $0.append(event) } }
    var all: [OnboardingWorker.Event] { events.withLock { $0 } }

    func failures(_ tenant: String) -> [(failures: Int, retryIn: Double)] {
        all.compactMap { event in
            if case .failed(let failed, let failures, let retryIn, _) = event, failed.rawValue == tenant { return (failures, retryIn) }
            return nil
        }
    }
}

/// A worker running in a task of its own, as the service runs it.
struct RunningWorker {
    static let executor = DedicatedThreadExecutor(name: "worker-tests")

    let worker: OnboardingWorker
    let task: Task<Void, Never>
    let events: WorkerEvents

    init(_ world: World, pollInterval: Double = 0.05, concurrency: Int = 2, drainSeconds: Double = 20) throws {
        let events = WorkerEvents()
        let worker = OnboardingWorker(onboarding: try world.onboarding(),
                                      settings: .init(pollInterval: pollInterval, concurrency: concurrency, maximumBackoff: 2,
                                                      drainSeconds: drainSeconds),
                                      logger: World.logger, observer: { events.add($0) })
        self.worker = worker
        self.events = events
        // On a thread of its own: the suite's synchronous tests can hold the cooperative pool for
        // minutes on 2 cores (see DedicatedThreadExecutor); the service's pool is never blocked.
        self.task = Task(executorPreference: RunningWorker.executor) { await worker.run() }
    }

    /// Stops it gracefully and waits for the loop to return.
    func stop() async {
        worker.stop()
        await task.value
    }
}

/// Waits until `condition` holds, polling; false after `seconds` (generous: the whole suite runs in
/// parallel on 2 cores, and a loaded machine once needed more than 60 s for the first checks).
func eventually(_ seconds: Double = 180, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}

extension World {
    func store() throws -> OnboardingStore { try OnboardingStore(folder: dir.file("onboarding")) }

    func state(_ tenant: String) throws -> OnboardingRecord.State? { try store().load(try TenantID(tenant))?.state }

    func checks() -> Int { simulator.received().filter { $0.path.lowercased().hasSuffix("/devicecode/check") }.count }
}

@Suite("The service's onboarding worker finishes onboardings by itself", .serialized)
struct OnboardingWorkerTests {
    @Test("several tenants, customers signing in later one by one: the worker adds each once, as soon as its customer signed in")
    func severalTenants() async throws {
        let world = try World()
        let tenants = ["alpha", "bravo", "charlie", "delta"]
        var codes: [String: String] = [:]
        for tenant in tenants { codes[tenant] = try #require(try world.start(tenant).userCode) }
        let running = try RunningWorker(world, concurrency: 2)

        // Nobody has signed in: the worker only checks, and adds nothing.
        #expect(await eventually { world.checks() >= 8 })
        #expect(world.posts() == 0)
        #expect(try tenants.allSatisfy { try world.state($0) == .awaitingCustomer })

        for tenant in tenants {
            world.simulator.signIn(userCode: try #require(codes[tenant]))
            #expect(try await eventually { try world.state(tenant) == .onboarded }, "\(tenant) is onboarded after its customer signed in")
        }
        await running.stop()

        #expect(world.posts() == tenants.count, "one POST Organizations per tenant")
        let organizations = world.simulator.storedOrganizations()
        #expect(Set(organizations.compactMap(\.officeName)) == Set(tenants.map { "\($0).onmicrosoft.com" }))
        for tenant in tenants {
            let record = try #require(try world.store().load(try TenantID(tenant)))
            #expect(record.organizationId != nil)
            let entry = try world.vault().summary(tenant: try TenantID(tenant), generation: try #require(record.generation))
            #expect(entry.metadata.vb365OrganizationID == record.organizationId, "the ids are in the vault")
        }
        #expect(running.worker.schedule().isEmpty, "nothing left to follow")
    }

    @Test("a new onboarding started while the worker runs is picked up (at once after wake)")
    func pickedUp() async throws {
        let world = try World { $0.signInAfter = 0 }
        let running = try RunningWorker(world, pollInterval: 0.2)
        try await Task.sleep(for: .milliseconds(300))
        _ = try world.start("echo")
        running.worker.wake()
        #expect(try await eventually { try world.state("echo") == .onboarded })
        await running.stop()
        #expect(world.posts() == 1)
    }

    @Test("expedite: a tenant checked once is checked again at once when asked (an open sign-in page), not an hour later")
    func expedited() async throws {
        let world = try World { $0.signInAfter = 1 }
        let running = try RunningWorker(world, pollInterval: 3600)
        _ = try world.start("golf")
        running.worker.wake()
        #expect(try await eventually { world.checks() >= 1 }, "the first check, right after the start")
        #expect(try world.state("golf") == .awaitingCustomer)
        // The customer signs in a second after the start; the next scheduled check is an hour away.
        #expect(try await eventually {
            running.worker.expedite(try TenantID("golf"), minimumSpacing: 0.5)
            return try world.state("golf") == .onboarded
        })
        await running.stop()
        #expect(world.posts() == 1)
    }

    @Test("a device code that ran out is marked expired, and nothing is sent for it")
    func expiredByTime() async throws {
        let world = try World { $0.deviceCodeLifetime = 1 }
        _ = try world.start("foxtrot")
        try await Task.sleep(for: .milliseconds(1_200))
        let running = try RunningWorker(world)
        #expect(try await eventually { try world.state("foxtrot") == .expired })
        await running.stop()
        #expect(world.posts() == 0)
        #expect(running.events.all.contains(.progressed(try TenantID("foxtrot"), .expired)))
    }

    @Test("a code VB365 no longer knows (expired at its end) is marked expired")
    func expiredByServer() async throws {
        let world = try World()
        _ = try world.start("golf")
        world.simulator.expireDeviceCodes()
        let running = try RunningWorker(world)
        #expect(try await eventually { try world.state("golf") == .expired })
        await running.stop()
        #expect(world.posts() == 0)
        let record = try #require(try world.store().load(try TenantID("golf")))
        #expect(record.failure?.status == 400)
    }

    @Test("VB365 answering 500: the worker backs off (each wait longer than the last) and recovers")
    func backsOffAndRecovers() async throws {
        let world = try World()
        let code = try #require(try world.start("hotel").userCode)
        // The test client tries 3 times per call: 12 failures are 4 failed steps of the worker.
        world.simulator.failNext("POST DeviceCode/check", status: 500, count: 12)
        world.simulator.signIn(userCode: code)
        let running = try RunningWorker(world, pollInterval: 0.05)
        #expect(try await eventually { try world.state("hotel") == .onboarded })
        await running.stop()

        let failures = running.events.failures("hotel")
        #expect(failures.map(\.failures) == [1, 2, 3, 4])
        for (earlier, later) in zip(failures, failures.dropFirst()) {
            #expect(later.retryIn > earlier.retryIn, "each wait is longer than the one before")
        }
        #expect(world.posts() == 1)
    }

    @Test("the wait after errors doubles from the poll interval and stops at the maximum")
    func backoffSchedule() {
        let settings = OnboardingWorker.Settings(pollInterval: 5, maximumBackoff: 300)
        #expect((1...8).map { settings.backoff(afterFailures: $0) } == [10, 20, 40, 80, 160, 300, 300, 300])
    }

    @Test("a tenant another process is working on (its lock held) is left alone")
    func busyElsewhere() async throws {
        let world = try World()
        let code = try #require(try world.start("india").userCode)
        world.simulator.signIn(userCode: code)
        let lockPath = world.dir.file("onboarding/india.lock")
        let fd = open(lockPath, O_RDWR | O_CREAT, 0o600)
        #expect(fd >= 0)
        #expect(flock(fd, LOCK_EX) == 0)
        let running = try RunningWorker(world)
        #expect(await eventually { running.events.all.contains(.busyElsewhere(try! TenantID("india"))) })
        #expect(world.checks() == 0)
        #expect(try world.state("india") == .awaitingCustomer)
        flock(fd, LOCK_UN)
        close(fd)
        #expect(try await eventually { try world.state("india") == .onboarded }, "taken up once the lock is free")
        await running.stop()
    }

    @Test("stopped while POST Organizations is in flight: the next worker reconciles, one organization, onboarded")
    func stopDuringAdd() async throws {
        let world = try World()
        let code = try #require(try world.start("juliet").userCode)
        // Long enough that the add is still in flight when the stop's 0.2 s drain ends, even on a
        // loaded machine (3 s was missed once with the PostgreSQL suites running beside it).
        world.simulator.delay("POST Organizations", seconds: 8)
        world.simulator.signIn(userCode: code)
        let first = try RunningWorker(world, drainSeconds: 0.2)
        #expect(try await eventually { try world.state("juliet") == .addingOrganization })
        await first.stop()
        #expect(first.events.all.contains(.abandoned(try TenantID("juliet"))), "the drain time ran out with the add in flight")
        #expect(try world.state("juliet") == .addingOrganization)
        world.simulator.delay("POST Organizations", seconds: 0)

        // The simulator carried the add out; the next worker finds it instead of sending it again.
        #expect(await eventually { world.simulator.storedOrganizations().count == 1 })
        let second = try RunningWorker(world)
        #expect(try await eventually { try world.state("juliet") == .onboarded })
        await second.stop()
        #expect(world.simulator.storedOrganizations().count == 1)
        #expect(world.posts() == 1, "never a blind re-POST")
    }

    @Test("stop waits for a tenant in flight when it finishes within the drain time")
    func drainFinishes() async throws {
        let world = try World()
        let code = try #require(try world.start("kilo").userCode)
        world.simulator.delay("POST Organizations", seconds: 1)
        world.simulator.signIn(userCode: code)
        let running = try RunningWorker(world, drainSeconds: 30)
        #expect(try await eventually { try world.state("kilo") == .addingOrganization })
        await running.stop()
        #expect(try world.state("kilo") == .onboarded)
        #expect(!running.events.all.contains(.abandoned(try TenantID("kilo"))))
    }
}
