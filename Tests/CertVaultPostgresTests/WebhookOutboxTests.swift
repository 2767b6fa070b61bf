import CertVaultCore
import CertVaultOnboarding
import CertVaultPostgres
import CertVaultTesting
import CertVaultWebhooks
import Foundation
import Logging
import Synchronization
import Testing

@Suite("PostgreSQL: the webhook outbox in webhook_outbox")
struct WebhookOutboxTests {
    static let receivers = ["https://hooks.example.net/a", "https://hooks.example.net/b?key=s3cret"]
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func event(_ tenant: String = "contoso") -> LifecycleEvent {
        LifecycleEvent(kind: .onboardingCompleted, tenant: try! TenantID(tenant), occurredAt: UTCTime.dateTime(UTCTime.now()),
                       data: ["state": "onboarded"])
    }

    static func outbox(_ database: PostgresDatabase, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 })
        -> WebhookOutbox
    {
        WebhookOutbox(backend: PostgresWebhookOutbox(database: database, logger: logger), receivers: receivers, logger: logger,
                      clock: clock)
    }

    @Test("A recorded event is a committed row per receiver when record returns; the same id again adds nothing")
    func recordIsDurableAndOncePerID() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let outbox = Self.outbox(database)
        let event = Self.event()
        try outbox.record(event)
        // Read by another connection (psql): committed.
        let rows = try server.psql(database: name, "SELECT count(*) FROM webhook_outbox WHERE state = 'pending'")
        #expect(rows.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        try outbox.record(event)
        #expect(outbox.pendingCount() == 2)
        // The row is the outbox file's JSON: the event as sent, the receiver, no signing key.
        let entry = try server.psql(database: name, "SELECT convert_from(entry, 'UTF8') FROM webhook_outbox ORDER BY id LIMIT 1")
        #expect(entry.contains("\"id\":\"\(event.id)\""))
        #expect(outbox.nextDueTime() != nil)
    }

    @Test("Two replicas claiming due events at once never get the same one; each is delivered once")
    func claimsAreExclusive() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let settings = try PostgresSettings(url: server.url(database: name), password: .file(server.passwordFile), timeoutSeconds: 10)
        let other = try PostgresDatabase(settings: settings)
        defer { other.shutdown() }
        let outboxes = [Self.outbox(database), Self.outbox(other)]
        for number in 0..<50 { try outboxes[number % 2].record(Self.event("tenant-\(number)")) }
        #expect(outboxes[0].pendingCount() == 100)

        let claimed = Mutex<[[String]]>([[], []])
        let group = DispatchGroup()
        for replica in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let outbox = outboxes[replica]
                while true {
                    let batch = outbox.due(now: Date().timeIntervalSince1970, limit: 7)
                    if batch.isEmpty { break }
                    for pending in batch {
                        claimed.withLock { $0[replica].append(pending.name) }
                        try? outbox.markDelivered(pending.name)
                    }
                }
            }
        }
        group.wait()
        let (first, second) = claimed.withLock { ($0[0], $0[1]) }
        #expect(Set(first).isDisjoint(with: second), "no event went to both replicas")
        #expect(first.count + second.count == 100)
        #expect(Set(first + second).count == 100)
        #expect(outboxes[1].pendingCount() == 0)
    }

    @Test("A claimed event is withheld from others until its claim expires; a failure reschedules, giving up parks it")
    func claimRescheduleAndPark() throws {
        guard let (database, _, _) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let backend = PostgresWebhookOutbox(database: database, claimSeconds: 60, logger: Self.logger)
        let outbox = WebhookOutbox(backend: backend, receivers: [Self.receivers[0]], logger: Self.logger)
        try outbox.record(Self.event())
        let now = Date().timeIntervalSince1970
        let batch = outbox.due(now: now + 1)
        #expect(batch.count == 1)
        #expect(outbox.due(now: now + 2).isEmpty, "claimed by the first caller")
        #expect(outbox.due(now: now + 120).count == 1, "a dead replica's claim expires")

        var entry = try #require(batch.first).entry
        entry.attempts = 1
        entry.nextAttemptAt = now + 500
        entry.lastError = "HTTP 500"
        try outbox.reschedule(batch[0].name, entry: entry)
        #expect(outbox.due(now: now + 400).isEmpty)
        let again = outbox.due(now: now + 501)
        #expect(again.first?.entry.attempts == 1)
        #expect(again.first?.entry.lastError == "HTTP 500")

        try outbox.park(again[0].name, entry: again[0].entry)
        #expect(outbox.pendingCount() == 0)
        #expect(outbox.deadCount() == 1)
        #expect(outbox.due(now: now + 10_000).isEmpty)
    }
}
