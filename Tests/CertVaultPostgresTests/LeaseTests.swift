import CertVaultCore
import CertVaultOnboarding
import CertVaultPostgres
import CertVaultTesting
import Foundation
import Logging
import Synchronization
import Testing

/// Runs `count` closures on threads of their own at once and collects their results.
func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) -> [Result<T, any Error>] {
    let results = Mutex<[Int: Result<T, any Error>]>([:])
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread.detachNewThread {
            let result = Result { try body(index) }
            results.withLock { $0[index] = result }
            group.leave()
        }
    }
    group.wait()
    return results.withLock { all in (0..<count).map { all[$0]! } }
}

@Suite("Leases with fencing on PostgreSQL: one holder at a time, the database's clock, takeover with a higher fence")
struct LeaseTests {
    @Test("eight holders contend for one lease at once: exactly one wins")
    func contention() throws {
        guard let (database, _, _) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let leases = PostgresLeases(database: database)
        let results = concurrently(8) { index in try leases.acquire("tenant:contoso", holder: "replica-\(index)", seconds: 30) }
        let won = try results.compactMap { try $0.get() }
        #expect(won.count == 1, "exactly one holder got the lease")
        #expect(won.first?.fence == 1)
        let winner = try #require(won.first)
        #expect(try leases.isCurrent(winner))
        // The holder renews it; the others are still refused.
        #expect(try leases.acquire("tenant:contoso", holder: winner.holder, seconds: 30)?.fence == 1, "renewing keeps the fence")
        #expect(try leases.acquire("tenant:contoso", holder: "someone-else", seconds: 30) == nil)
    }

    @Test("an expired lease is taken over with a higher fence; the old holder can no longer renew it")
    func expiredTakenOver() throws {
        guard let (database, _, _) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let leases = PostgresLeases(database: database)
        let first = try #require(try leases.acquire("job:onboarding-worker", holder: "replica-a", seconds: 0.5))
        #expect(try leases.acquire("job:onboarding-worker", holder: "replica-b", seconds: 0.5) == nil, "not before it expires")
        Thread.sleep(forTimeInterval: 0.8)
        #expect(try !leases.isCurrent(first), "expired by the database's clock")
        let second = try #require(try leases.acquire("job:onboarding-worker", holder: "replica-b", seconds: 30))
        #expect(second.fence > first.fence)
        #expect(second.takenOver, "the first holder never released it")
        #expect(second.previousHolder == "replica-a")
        #expect(try leases.renew(first, seconds: 30) == nil, "the stale holder cannot renew")
        #expect(try !leases.isCurrent(first))
        #expect(try leases.isCurrent(second))
    }

    @Test("a released lease goes to the next holder at once, with a higher fence and no takeover")
    func released() throws {
        guard let (database, _, _) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let leases = PostgresLeases(database: database)
        let first = try #require(try leases.acquire("tenant:fabrikam", holder: "replica-a", seconds: 30))
        try leases.release(first)
        let second = try #require(try leases.acquire("tenant:fabrikam", holder: "replica-b", seconds: 30))
        #expect(second.fence == first.fence + 1)
        #expect(!second.takenOver)
    }

    @Test("a stale holder's save is refused (lease-lost) and the record stays the new holder's")
    func staleSaveRefused() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let backend = PostgresOnboardingBackend(database: database, leaseSeconds: 0.5)
        let tenant = try TenantID("contoso")
        let stale = try #require(try backend.leases.acquire(Lease.tenant(tenant), holder: "replica-a", seconds: 0.5))
        try backend.write(Array("{\"from\":\"a\"}\n".utf8), tenant: tenant, lease: stale)
        Thread.sleep(forTimeInterval: 0.8)
        let fresh = try #require(try backend.leases.acquire(Lease.tenant(tenant), holder: "replica-b", seconds: 30))
        try backend.write(Array("{\"from\":\"b\"}\n".utf8), tenant: tenant, lease: fresh)
        let error = try #require(throws: CertVaultError.self) {
            try backend.write(Array("{\"from\":\"a, late\"}\n".utf8), tenant: tenant, lease: stale)
        }
        #expect(error.code == .leaseLost)
        #expect(error.hint?.isEmpty == false)
        #expect(try backend.read(tenant) == Array("{\"from\":\"b\"}\n".utf8), "the late write changed nothing")
        let revision = try server.psql(database: name, "SELECT revision FROM onboarding_records WHERE tenant = 'contoso'")
        #expect(revision.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
    }

    @Test("one replica runs a job; when it stops renewing, another takes the job over after the lease expires")
    func jobLease() async throws {
        guard let (database, _, _) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let a = JobLease(name: JobLease.renewalScheduler, leases: PostgresLeases(database: database), holder: "replica-a", seconds: 0.6,
                         logger: logger)
        let b = JobLease(name: JobLease.renewalScheduler, leases: PostgresLeases(database: database), holder: "replica-b", seconds: 0.6,
                         logger: logger)
        #expect(a.hold())
        #expect(!b.hold(), "one replica at a time")
        #expect(try await b.runPass { 1 } == nil, "the pass is skipped where the lease is not held")
        #expect(try await a.runPass { 1 } == 1)
        let fence = try #require(a.lease?.fence)
        // replica-a stops (as a SIGKILL would): no renewal, no release.
        try await Task.sleep(for: .milliseconds(900))
        #expect(b.hold(), "taken over after the expiry")
        #expect(try #require(b.lease).fence > fence)
        #expect(try #require(b.lease).takenOver)
        #expect(!a.hold(), "the old holder is refused now")
        b.release()
        #expect(a.hold(), "released: free at once")
    }
}

@Suite("Leases on one machine (the file backend)")
struct FileLeaseTests {
    @Test("one holder at a time within a process; expiry hands it over with a higher fence, kept across instances")
    func fileLeases() throws {
        let dir = try TemporaryDirectory()
        let leases = try FileLeases(folder: dir.file("leases"))
        let results = concurrently(8) { index in try leases.acquire("job:webhook-delivery", holder: "h\(index)", seconds: 0.4) }
        let won = try results.compactMap { try $0.get() }
        #expect(won.count == 1)
        let first = try #require(won.first)
        Thread.sleep(forTimeInterval: 0.6)
        let second = try #require(try leases.acquire("job:webhook-delivery", holder: "other", seconds: 30))
        #expect(second.fence == first.fence + 1)
        #expect(second.takenOver)
        #expect(try leases.renew(first, seconds: 30) == nil)
        // Another instance (another process would see the same) cannot take it while it is held.
        let elsewhere = try FileLeases(folder: dir.file("leases"))
        #expect(try elsewhere.acquire("job:webhook-delivery", holder: "p2", seconds: 30) == nil)
    }
}
