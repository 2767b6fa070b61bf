import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import CertVaultVault
import CertVaultVB365
import Foundation
import Logging
import Testing

/// Events as the webhook outbox would get them; can be told to refuse (a full disk).
final class RecordingSink: LifecycleEventSink, @unchecked Sendable {
    // Safety: both fields are used under `lock` only.
    private let lock = NSLock()
    private var list: [LifecycleEvent] = []
    private var refusing = false

    func record(_ event: LifecycleEvent) throws {
        try lock.withLock {
            if refusing { throw CertVaultError(.fileSystem, "The outbox cannot be written (test).") }
            list.append(event)
        }
    }

    var events: [LifecycleEvent] { lock.withLock { list } }
    func refuse(_ on: Bool) { lock.withLock { refusing = on } }

    /// `tenant kind [reminderDays]` per event, for compact comparisons.
    func lines(since start: Int = 0) -> [String] {
        events.dropFirst(start).map { event in
            ["\(event.tenant?.rawValue ?? "-")", event.kind.rawValue, event.data["reminderDays"]].compactMap { $0 }.joined(separator: " ")
        }
    }
}

/// A vault and onboarding folder with onboarded tenants whose certificates end when the test
/// says (relative to ``start``); no VB365 needed. Time is the test's: nothing sleeps.
final class RenewalWorld: @unchecked Sendable {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let dir: TemporaryDirectory
    /// The test's "today".
    let start: Int64 = 1_900_000_000  // 2030-03-17

    init() throws {
        dir = try TemporaryDirectory()
        _ = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: dir.file("key/root.key")))
    }

    func vault() throws -> Vault { try Vault.open(at: dir.file("vault"), unlock: .keyFile(path: dir.file("key/root.key"))) }
    func store() throws -> OnboardingStore { try OnboardingStore(folder: dir.file("onboarding")) }
    func day(_ n: Int) -> Int64 { start + Int64(n) * 86_400 }

    /// An onboarded tenant whose certificate ends `days` days (and an hour) after ``start``.
    @discardableResult
    func onboarded(_ name: String, daysLeft days: Int, configureApplication: Bool? = nil) throws -> OnboardingRecord {
        let vault = try vault()
        _ = try vault.fillSynthetic(tenants: 1, prefix: name, auditRecordsPerEntry: false)
        let tenant = try TenantID("\(name)0")
        let notAfter = UTCTime.dateTime(day(days) + 3_600)
        try vault.updateMetadata(tenant: tenant, generation: 1, action: "test.expiry") { $0.notAfter = notAfter }
        let summary = try vault.summary(tenant: tenant, generation: 1)
        var record = OnboardingRecord(intake: .init(tenant: tenant, displayName: name.capitalized, officeName: "\(name).onmicrosoft.com"),
                                      serverURL: "https://vb365.invalid:4443", now: UTCTime.dateTime(start))
        record.move(to: .onboarded, "organization added (test)", at: UTCTime.dateTime(start))
        record.generation = 1
        record.thumbprint = summary.metadata.thumbprintSHA1
        record.organizationId = UUID().uuidString.lowercased()
        record.renewalConfiguresApplication = configureApplication
        try store().save(record)
        return record
    }

    /// A scheduler as a new process makes it (after a restart: the same files, nothing in memory).
    func scheduler(_ sink: RecordingSink, invitations: (any RenewalInvitations)? = nil,
                   settings: RenewalScheduler.Settings = .init(checkDrift: false)) throws -> RenewalScheduler {
        RenewalScheduler(store: try store(), vault: try vault(), settings: settings, events: sink, onboarding: nil,
                         invitations: invitations, logger: Self.logger)
    }

    func renewal(_ tenant: String) throws -> RenewalState? { try store().load(try TenantID(tenant))?.renewal }
}

/// Counts invitations per tenant; ids are `inv-TENANT-N`.
final class InvitationCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var made: [String: Int] = [:]
    /// Ids treated as no longer usable (expired or revoked).
    private var dead: Set<String> = []

    var invitations: RenewalInvitationsClosure {
        RenewalInvitationsClosure { tenant, _, existing, _ in
            self.lock.withLock {
                if let existing, !self.dead.contains(existing) { return existing }
                self.made[tenant.rawValue, default: 0] += 1
                return "inv-\(tenant.rawValue)-\(self.made[tenant.rawValue]!)"
            }
        }
    }

    func count(_ tenant: String) -> Int { lock.withLock { made[tenant] ?? 0 } }
    func expire(_ id: String) { lock.withLock { _ = dead.insert(id) } }
}

@Suite("Renewal scheduler: states, reminders and expiry on a clock the test controls")
struct RenewalSchedulerTests {
    @Test("certificates at 61, 59, 29, 1 and -1 days: the right reminders fire once each, across restarts")
    func remindersOnceAcrossRestarts() throws {
        let world = try RenewalWorld()
        for (name, days) in [("t61-", 61), ("t59-", 59), ("t29-", 29), ("t1-", 1), ("tm1-", -1)] {
            try world.onboarded(name, daysLeft: days)
        }
        let sink = RecordingSink()
        let first = try world.scheduler(sink).pass(now: world.start)
        #expect(first.problems.isEmpty)
        #expect(first.examined == 5)
        #expect(Set(sink.lines()) == [
            "t59-0 certificate.renewal_due", "t59-0 certificate.renewal_reminder 60",
            "t29-0 certificate.renewal_due", "t29-0 certificate.renewal_reminder 30",
            "t1-0 certificate.renewal_due", "t1-0 certificate.renewal_reminder 1",
            "tm1-0 certificate.expired",
        ])
        #expect(sink.events.count == 7)
        #expect(try world.renewal("t61-0")?.state == .current)
        #expect(try world.renewal("t59-0")?.state == .renewalDue)
        #expect(try world.renewal("tm1-0")?.state == .expired)
        #expect(try world.renewal("t29-0")?.remindersSent == [60, 30], "the larger reminder crossed at once is not sent later")

        // A restart (a new scheduler over the same files) at the same time sends nothing again.
        let again = try world.scheduler(sink).pass(now: world.start + 3_600)
        #expect(again.events.isEmpty)
        #expect(again.recordsWritten == 0, "nothing changed, nothing written")

        // Two days later, after another restart: t61 enters the window, t1 expires; nothing else.
        let mark = sink.events.count
        _ = try world.scheduler(sink).pass(now: world.day(2))
        #expect(Set(sink.lines(since: mark)) == [
            "t61-0 certificate.renewal_due", "t61-0 certificate.renewal_reminder 60", "t1-0 certificate.expired",
        ])

        // Sixteen days: t29 has 13 left (reminder 14); t59 has 43, t61 45 (nothing).
        let mark16 = sink.events.count
        _ = try world.scheduler(sink).pass(now: world.day(16))
        #expect(sink.lines(since: mark16) == ["t29-0 certificate.renewal_reminder 14"])

        // Every (tenant, event, day) went out exactly once over all passes.
        #expect(Set(sink.lines()).count == sink.events.count)
        #expect(Set(sink.events.map(\.id)).count == sink.events.count)
    }

    @Test("renewal-due shows the date it becomes urgent (7 days before notAfter) and what to do without the portal")
    func dueWithUrgentDate() throws {
        let world = try RenewalWorld()
        let record = try world.onboarded("contoso", daysLeft: 20)
        let sink = RecordingSink()
        _ = try world.scheduler(sink).pass(now: world.start)
        let renewal = try #require(try world.renewal("contoso0"))
        #expect(renewal.state == .renewalDue)
        #expect(renewal.generation == record.generation)
        #expect(renewal.dueSince == UTCTime.dateTime(world.start))
        #expect(renewal.urgentAt == UTCTime.dateTime(world.day(20) + 3_600 - 7 * 86_400))
        #expect(renewal.nextStep?.contains("certvault rotate contoso0") == true)
        let due = try #require(sink.events.first { $0.kind == .certificateRenewalDue })
        #expect(due.data["daysLeft"] == "20")
        #expect(due.data["generation"] == "1")
        #expect(due.data["thumbprint"] == record.thumbprint)
        #expect(due.data["notAfter"] == renewal.notAfter)
        #expect(due.occurredAt == UTCTime.dateTime(world.start), "events carry the scheduler's clock")
    }

    @Test("a tenant that needs the customer gets one renewal invitation, refreshed when it is no longer usable")
    func renewalInvitation() throws {
        let world = try RenewalWorld()
        try world.onboarded("fabrikam", daysLeft: 30)
        try world.onboarded("later", daysLeft: 90)
        let invitations = InvitationCounter()
        let sink = RecordingSink()
        let report = try world.scheduler(sink, invitations: invitations.invitations).pass(now: world.start)
        #expect(report.invitationsCreated == 1)
        #expect(try world.renewal("fabrikam0")?.state == .awaitingCustomer)
        #expect(try world.renewal("fabrikam0")?.invitationId == "inv-fabrikam0-1")
        #expect(invitations.count("later0") == 0, "not due: no invitation")

        _ = try world.scheduler(sink, invitations: invitations.invitations).pass(now: world.day(1))
        #expect(invitations.count("fabrikam0") == 1, "still usable: kept")

        invitations.expire("inv-fabrikam0-1")
        _ = try world.scheduler(sink, invitations: invitations.invitations).pass(now: world.day(8))
        #expect(invitations.count("fabrikam0") == 2)
        #expect(try world.renewal("fabrikam0")?.invitationId == "inv-fabrikam0-2")
    }

    @Test("an event the sink could not record is not marked sent: the next pass sends it")
    func refusedEventIsRetried() throws {
        let world = try RenewalWorld()
        try world.onboarded("northwind", daysLeft: 5)
        let sink = RecordingSink()
        sink.refuse(true)
        let failed = try world.scheduler(sink).pass(now: world.start)
        #expect(failed.events.isEmpty)
        #expect(failed.problems.count == 2, "the due event and the reminder")
        #expect(try world.renewal("northwind0")?.remindersSent == [])
        sink.refuse(false)
        _ = try world.scheduler(sink).pass(now: world.start + 60)
        #expect(sink.lines() == ["northwind0 certificate.renewal_due", "northwind0 certificate.renewal_reminder 7"])
    }

    @Test("events carry facts only: no password, PFX or token, and only the documented fields")
    func eventsHoldNoSecret() throws {
        let world = try RenewalWorld()
        try world.onboarded("adatum", daysLeft: 3)
        try world.onboarded("gone", daysLeft: -2)
        let sink = RecordingSink()
        _ = try world.scheduler(sink).pass(now: world.start)
        let allowed: Set<String> = ["generation", "thumbprint", "notAfter", "daysLeft", "state", "urgentAt", "organizationId", "reminderDays"]
        #expect(!sink.events.isEmpty)
        for event in sink.events {
            #expect(Set(event.data.keys).isSubset(of: allowed), "\(event.kind): \(event.data.keys.sorted())")
            let json = String(decoding: try JSONEncoder().encode(event), as: UTF8.self).lowercased()
            for word in ["password", "pfx", "token", "cvi_", "cvt_", "begin"] { #expect(!json.contains(word), "\(word) in \(json)") }
        }
    }

    @Test("records written before the scheduler existed (no renewal field) still load, and get one")
    func oldRecordsDecode() throws {
        let world = try RenewalWorld()
        let record = try world.onboarded("legacy", daysLeft: 200)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(record)) as? [String: Any])
        #expect(object["renewal"] == nil)
        object.removeValue(forKey: "renewalConfiguresApplication")
        let decoded = try JSONDecoder().decode(OnboardingRecord.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(decoded.renewal == nil)
        #expect(decoded.renewalNeedsCustomer, "the default: rotations need the customer")
        _ = try world.scheduler(RecordingSink()).pass(now: world.start)
        #expect(try world.renewal("legacy0")?.state == .current)
    }

    @Test("the window is the policy's renew_before_days or the largest reminder day, whichever is larger")
    func windowIsTheLarger() throws {
        #expect(RenewalScheduler.Settings(reminderDays: [30, 7], renewBeforeDays: 45).windowDays == 45)
        #expect(RenewalScheduler.Settings(reminderDays: [90, 30], renewBeforeDays: 45).windowDays == 90)
        let world = try RenewalWorld()
        try world.onboarded("edge", daysLeft: 44)
        let sink = RecordingSink()
        _ = try world.scheduler(sink, settings: .init(reminderDays: [30, 7], renewBeforeDays: 45, checkDrift: false)).pass(now: world.start)
        #expect(sink.lines() == ["edge0 certificate.renewal_due"], "due by the policy, no reminder yet")
    }

    @Test("a pass stopped by shutdown leaves the remaining tenants for the next one")
    func stopEndsThePass() throws {
        let world = try RenewalWorld()
        try world.onboarded("a", daysLeft: 10)
        let scheduler = try world.scheduler(RecordingSink())
        scheduler.stop()
        let report = try scheduler.pass(now: world.start)
        #expect(report.stopped)
        #expect(report.examined == 0)
        #expect(try world.renewal("a0") == nil)
    }
}
