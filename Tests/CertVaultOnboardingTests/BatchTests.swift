import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultTesting
import CertVaultVault
import CertVaultVB365Simulator
import Foundation
import Testing

/// A list several tasks append to.
private final class Collected<Value: Sendable>: @unchecked Sendable {
    // Safety: `values` is only touched under `lock`.
    private let lock = NSLock()
    private var values: [Value] = []
    func append(_ value: Value) { lock.withLock { values.append(value) } }
    var all: [Value] { lock.withLock { values } }
}

@Suite("Bulk issuance and bulk onboarding, as the CLI and the service call them")
struct BatchTests {
    @Test("BulkIssuance stores and exports every tenant, reports each one, and a failure stops only its tenant")
    func bulkIssuance() async throws {
        let dir = try TemporaryDirectory()
        let vault = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: dir.file("key/root.key")))
        let issuer = Issuer(policy: try PolicyLoader.load(path: TestEnvironment.policy("default")), logger: World.logger)
        let tenants = try ["alpha", "bravo", "charlie"].map { try TenantID($0) }
        let prepared = try tenants.map { try issuer.prepare(IssuanceRequest(tenant: $0, org: $0.rawValue.capitalized)) }
        // bravo already has an export folder: certvault never overwrites one.
        try FileManager.default.createDirectory(atPath: dir.file("out/bravo"), withIntermediateDirectories: true)
        let recorded = Collected<TenantID>()
        var events: [String] = []
        let outcome = try await BulkIssuance.run(prepared, issuer: issuer, jobs: 2, exportFolder: dir.file("out"),
                                                 passwordDestination: .exportFolder, summaryJSON: { _ in Array("{}\n".utf8) },
                                                 recordPassword: { credential in recorded.append(credential.tenant) },
                                                 vault: vault) { event in
            switch event {
            case .issued(let issued): events.append("issued \(issued.credential.tenant)")
            case .failed(let tenant, _): events.append("failed \(tenant)")
            }
        }
        #expect(Set(outcome.issued.map(\.credential.tenant.rawValue)) == ["alpha", "charlie"])
        #expect(outcome.failures.map(\.tenant.rawValue) == ["bravo"])
        #expect(outcome.failures.first?.error.code == .alreadyExists)
        #expect(events.sorted() == ["failed bravo", "issued alpha", "issued charlie"])
        for issued in outcome.issued {
            #expect(issued.vault?.path == vault.path)
            #expect(try vault.generations(of: issued.credential.tenant) == [issued.vault?.generation ?? -1])
            let files = try #require(issued.files)
            #expect(FileManager.default.fileExists(atPath: files.pfx))
        }
        #expect(try vault.generations(of: tenants[1]).isEmpty, "the failed tenant was not stored")
        #expect(Set(recorded.all.map(\.rawValue)) == ["alpha", "charlie"])
    }

    @Test("BulkIssuance without an export folder stores in the vault and records each password after storing")
    func bulkIssuanceVaultOnly() async throws {
        let dir = try TemporaryDirectory()
        let vault = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: dir.file("key/root.key")))
        let issuer = Issuer(policy: try PolicyLoader.load(path: TestEnvironment.policy("default")), logger: World.logger)
        let prepared = try ["delta", "echo"].map { try issuer.prepare(IssuanceRequest(tenant: try TenantID($0))) }
        let recorded = Collected<Int>()
        let outcome = try await BulkIssuance.run(prepared, issuer: issuer, jobs: 4, exportFolder: nil, passwordDestination: .exportFolder,
                                                 summaryJSON: { _ in [] }, recordPassword: { _ in recorded.append(1) },
                                                 vault: vault)
        #expect(outcome.issued.count == 2 && outcome.failures.isEmpty)
        #expect(outcome.issued.allSatisfy { $0.files == nil && $0.vault?.generation == 1 })
        #expect(recorded.all.count == 2)
    }

    @Test("OnboardingBatch starts many tenants, resumes them after the sign-in, and tallies the outcomes")
    func onboardingBatch() async throws {
        let world = try World()
        let onboarding = try world.onboarding()
        let intakes = try ["one", "two", "three"].map { try world.intake($0) }
        var reported = 0
        let started = try await OnboardingBatch.start(intakes, onboarding: onboarding, jobs: 2) { _ in reported += 1 }
        #expect(reported == 3)
        #expect(OnboardingBatch.tally(started).awaiting == 3)
        let pending = try OnboardingBatch.pending(in: try OnboardingStore(folder: world.dir.file("onboarding")))
        #expect(pending.count == 3)
        for record in started.compactMap({ $0.record }) { #expect(world.simulator.signIn(userCode: try #require(record.userCode))) }
        let resumed = try await OnboardingBatch.resume(pending.map(\.intake.tenant), onboarding: onboarding, seconds: 10, interval: 0.2,
                                                       jobs: 3)
        let tally = OnboardingBatch.tally(resumed)
        #expect(tally.onboarded == 3 && tally.failedOrExpired == 0 && tally.awaiting == 0)
        #expect(world.posts() == 3, "one POST per organization")
        #expect(try OnboardingBatch.pending(in: try OnboardingStore(folder: world.dir.file("onboarding"))).isEmpty)
    }

    @Test("A tenant that fails is an outcome, not an error of the batch")
    func failureIsAnOutcome() async throws {
        let world = try World()
        let onboarding = try world.onboarding()
        let outcomes = try await OnboardingBatch.resume([try TenantID("unknown")], onboarding: onboarding, seconds: 1, interval: 0.2, jobs: 1)
        #expect(OnboardingBatch.tally(outcomes).failedOrExpired == 1)
        if case .failure(let tenant, _) = outcomes.first { #expect(tenant.rawValue == "unknown") } else { Issue.record("expected a failure") }
    }
}
