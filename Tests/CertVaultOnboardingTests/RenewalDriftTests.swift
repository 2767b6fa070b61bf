import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import CertVaultVault
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

extension World {
    /// Onboards `tenant` through the workflow (start, simulated sign-in, resume).
    @discardableResult
    func onboard(_ tenant: String) throws -> OnboardingRecord {
        let started = try start(tenant)
        simulator.signIn(userCode: try #require(started.userCode))
        let done = try onboarding().resume(try TenantID(tenant))
        try #require(done.state == .onboarded)
        return done
    }

    func scheduler(_ sink: RecordingSink, onboarding: Onboarding? = nil, checkDrift: Bool = true) throws -> RenewalScheduler {
        let workflow = try onboarding ?? self.onboarding()
        return RenewalScheduler(store: workflow.store, vault: try vault(), settings: .init(checkDrift: checkDrift), events: sink,
                                onboarding: workflow, invitations: nil, logger: Self.logger)
    }

    /// `GET Organizations` listings the simulator answered (each page counts).
    func organizationListings() -> Int {
        simulator.received().filter { $0.method == "GET" && $0.path.lowercased().contains("/organizations") && !$0.path.lowercased().contains("/organizations/") }.count
    }

    func record(_ tenant: String) throws -> OnboardingRecord? {
        try OnboardingStore(folder: dir.file("onboarding")).load(try TenantID(tenant))
    }
}

@Suite("Renewal scheduler against the VB365 simulator: drift and automatic rotation", .serialized)
struct RenewalDriftTests {
    @Test("VB365 changed behind certvault's back: another thumbprint and a deleted organization are both reported, once",
          arguments: [VB365APIVersion.v6, .v8])
    func driftIsReported(version: VB365APIVersion) throws {
        let world = try World(version)
        let contoso = try world.onboard("contoso")
        let fabrikam = try world.onboard("fabrikam")
        try world.onboard("steady")
        let sink = RecordingSink()
        let now = UTCTime.now()

        let clean = try world.scheduler(sink).pass(now: now)
        #expect(clean.driftChecked)
        #expect(clean.organizationsListed == 3)
        #expect(clean.drift.values.reduce(0, +) == 0)
        #expect(!sink.events.contains { $0.kind == .driftDetected })

        let other = String(repeating: "AB", count: 20)
        #expect(world.simulator.replaceThumbprint(organizationId: try #require(contoso.organizationId), with: other))
        #expect(world.simulator.deleteOrganization(id: try #require(fabrikam.organizationId)))
        let listingsBefore = world.organizationListings()
        let found = try world.scheduler(sink).pass(now: now + 60)
        #expect(world.organizationListings() - listingsBefore == 1, "one listing per pass, not one call per tenant")
        #expect(found.drift[.unknownCertificate] == 1)
        #expect(found.drift[.organizationMissing] == 1)
        let events = sink.events.filter { $0.kind == .driftDetected }
        #expect(events.count == 2)
        let changed = try #require(events.first { $0.tenant?.rawValue == "contoso" })
        #expect(changed.data["kind"] == "unknown-certificate")
        #expect(changed.data["reportedThumbprint"] == other)
        #expect(changed.data["expectedThumbprint"] == contoso.thumbprint?.uppercased())
        let gone = try #require(events.first { $0.tenant?.rawValue == "fabrikam" })
        #expect(gone.data["kind"] == "organization-missing")
        #expect(gone.data["organizationId"] == fabrikam.organizationId)
        #expect(try world.record("contoso")?.renewal?.drift?.kind == .unknownCertificate)
        #expect(try world.record("fabrikam")?.renewal?.drift?.kind == .organizationMissing)
        #expect(try world.record("steady")?.renewal?.drift == nil)

        // The same drift again: no new event (after a restart too).
        _ = try world.scheduler(sink).pass(now: now + 120)
        #expect(sink.events.filter { $0.kind == .driftDetected }.count == 2)

        // Set right in VB365: the drift clears; a new, different drift is reported again.
        world.simulator.replaceThumbprint(organizationId: contoso.organizationId!, with: contoso.thumbprint!)
        let cleared = try world.scheduler(sink).pass(now: now + 180)
        #expect(cleared.drift[.unknownCertificate] == 0)
        #expect(try world.record("contoso")?.renewal?.drift == nil)
        world.simulator.replaceThumbprint(organizationId: contoso.organizationId!, with: String(repeating: "CD", count: 20))
        _ = try world.scheduler(sink).pass(now: now + 240)
        #expect(sink.events.filter { $0.kind == .driftDetected && $0.tenant?.rawValue == "contoso" }.count == 2)
    }

    @Test("VB365 cannot be listed: the pass goes on without the drift check and keeps what it knew")
    func listingFails() throws {
        let world = try World(.v8)
        try world.onboard("contoso")
        world.simulator.failNext("GET Organizations", status: 500, count: 10)
        let report = try world.scheduler(RecordingSink()).pass(now: UTCTime.now())
        #expect(!report.driftChecked)
        #expect(report.examined == 1)
        #expect(report.problems.contains { $0.hasPrefix("drift check") })
    }

    @Test("a provider-managed application (configureApplication false) is rotated by the pass itself: rotation.completed, reminders start over")
    func automaticRotation() throws {
        let world = try World(.v8)
        let before = try world.onboard("managed")
        let tenant = try TenantID("managed")
        let store = try OnboardingStore(folder: world.dir.file("onboarding"))
        var record = try #require(try store.load(tenant))
        record.renewalConfiguresApplication = false
        try store.save(record)
        // The certificate VB365 uses ends in ten days.
        let now = UTCTime.now()
        try world.vault().updateMetadata(tenant: tenant, generation: before.generation!, action: "test.expiry") {
            $0.notAfter = UTCTime.dateTime(now + 10 * 86_400)
        }
        let sink = RecordingSink()
        let report = try world.scheduler(sink).pass(now: now)
        #expect(report.rotations == 1)
        let after = try #require(try world.record("managed"))
        #expect(after.rotation?.phase == .done)
        #expect(after.rotation?.configureApplication == false)
        #expect(after.generation != before.generation)
        #expect(world.simulator.storedOrganizations().first?.applicationCertificateThumbprint?.uppercased() == after.thumbprint?.uppercased())
        let completed = try #require(sink.events.first { $0.kind == .rotationCompleted })
        #expect(completed.data["generation"] == String(after.generation!))
        #expect(completed.data["previousGeneration"] == String(before.generation!))
        #expect(after.renewal?.state == .current, "the new certificate is valid beyond the window")
        #expect(after.renewal?.generation == after.generation)
        #expect(after.renewal?.remindersSent == [])
        #expect(report.drift.values.reduce(0, +) == 0, "VB365 uses what the vault recorded")

        // The next pass does nothing more.
        let next = try world.scheduler(sink).pass(now: now + 60)
        #expect(next.rotations == 0)
        #expect(next.events.isEmpty)
    }

    @Test("an automatic rotation VB365 refuses is reported once and not retried by the scheduler")
    func automaticRotationRefused() throws {
        let world = try World(.v8)
        let before = try world.onboard("refused")
        let tenant = try TenantID("refused")
        let store = try OnboardingStore(folder: world.dir.file("onboarding"))
        var record = try #require(try store.load(tenant))
        record.renewalConfiguresApplication = false
        try store.save(record)
        let now = UTCTime.now()
        try world.vault().updateMetadata(tenant: tenant, generation: before.generation!, action: "test.expiry") {
            $0.notAfter = UTCTime.dateTime(now + 10 * 86_400)
        }
        world.simulator.failNext("PUT Organizations/{id}", status: 400, count: 5)
        let sink = RecordingSink()
        _ = try world.scheduler(sink).pass(now: now)
        let after = try #require(try world.record("refused"))
        #expect(after.generation == before.generation, "the old certificate stays in use")
        #expect(after.renewal?.state == .rotationRefused)
        #expect(sink.events.filter { $0.kind == .rotationRefused }.count == 1)
        let next = try world.scheduler(sink).pass(now: now + 60)
        #expect(next.rotations == 0)
        #expect(sink.events.filter { $0.kind == .rotationRefused }.count == 1)
    }
}
