import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultTesting
import CertVaultVault
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

@Suite("The certificate sent with the add is chosen when the add is sent, not at start")
struct GenerationChoiceTests {
    /// A certificate issued outside onboarding (as `certvault issue` does) and stored as the tenant's next generation.
    func issue(_ world: World, _ tenant: TenantID, profile: IssuancePolicy.PKCS12Profile) throws -> Int {
        var policy = try PolicyLoader.load(path: TestEnvironment.policy("default"))
        policy.pkcs12.profile = profile
        let credential = try Issuer(policy: policy, logger: World.logger).issue(IssuanceRequest(tenant: tenant, org: "Contoso"))
        return try world.vault().store(tenant: tenant, payload: EntryPayload(credential))
    }

    @Test("Server 2016 refuses the AES PFX; the hint's fix works: a compat re-issue, renew-code and resume onboard the tenant with it")
    func compatReissueAfterRefusal() throws {
        let world = try World(.v8) { $0.windowsServer2016 = true }
        world.profile = .modern
        let tenant = try TenantID("contoso")
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: try #require(started.userCode))
        let refused = try world.onboarding().resume(tenant)
        #expect(refused.state == .failed)
        #expect(refused.generation == 1)
        let hint = try #require(refused.failure?.hint)
        #expect(hint.contains("certvault issue contoso"))
        #expect(hint.contains("renew-code contoso"))

        // The hint, followed: a compat certificate, a new code, the customer signs in again.
        let compat = try issue(world, tenant, profile: .compat)
        #expect(compat == 2)
        let renewed = try world.onboarding().renewCode(tenant)
        world.simulator.signIn(userCode: try #require(renewed.userCode))
        let done = try world.onboarding().resume(tenant)
        #expect(done.state == .onboarded, "the compat generation was sent, not the refused one chosen at start")
        #expect(done.generation == compat)
        let sent = try world.vault().summary(tenant: tenant, generation: compat).metadata.thumbprintSHA1
        #expect(done.thumbprint == sent)
        #expect(done.reportedThumbprint?.uppercased() == sent.uppercased())
        #expect(done.history.contains { $0.state == .addingOrganization && $0.note.contains("vault generation \(compat)") },
                "the record says which generation was sent")
        #expect(try world.vault().summary(tenant: tenant, generation: compat).metadata.onboardingState == "onboarded")
    }

    @Test("a generation retired after start is not sent: a new one is issued and sent instead")
    func retiredAfterStartNotSent() throws {
        let world = try World(.v8)
        let tenant = try TenantID("contoso")
        let started = try world.start("contoso")
        #expect(started.generation == 1)
        try world.vault().updateMetadata(tenant: tenant, generation: 1, action: "entry.retire") { $0.status = .retired }
        world.simulator.signIn(userCode: try #require(started.userCode))
        let done = try world.onboarding().resume(tenant)
        #expect(done.state == .onboarded)
        #expect(done.generation == 2)
        let retired = try world.vault().summary(tenant: tenant, generation: 1).metadata
        #expect(done.reportedThumbprint?.uppercased() != retired.thumbprintSHA1.uppercased())
        #expect(retired.vb365OrganizationID == nil, "the retired generation is not the one VB365 has")
    }

    @Test("a newer active generation issued after start is the one sent")
    func newerAfterStartIsSent() throws {
        let world = try World(.v7)
        let tenant = try TenantID("contoso")
        let started = try world.start("contoso")
        let newer = try issue(world, tenant, profile: .compat)
        world.simulator.signIn(userCode: try #require(started.userCode))
        let done = try world.onboarding().resume(tenant)
        #expect(done.state == .onboarded)
        #expect(done.generation == newer)
    }
}
