import CertVaultCore
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

@Suite("What VB365 says back: its name for the organization, its messages")
struct OrganizationNameTests {
    @Test("VB365 adds the organization under another name: the record keeps VB365's name and says so")
    func otherName() throws {
        let world = try World(.v7) { $0.organizationNames = ["contoso.onmicrosoft.com": "contosoltd.onmicrosoft.com"] }
        let tenant = try TenantID("contoso")
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: try #require(started.userCode))
        let done = try world.onboarding().resume(tenant)
        #expect(done.state == .onboarded)
        #expect(done.vb365OrganizationName == "contosoltd.onmicrosoft.com")
        #expect(done.intake.officeName == "contoso.onmicrosoft.com", "what was given is kept too")
        #expect(done.history.contains { $0.note.contains("as 'contosoltd.onmicrosoft.com', not as 'contoso.onmicrosoft.com'") })
        // The lookup (v7 has no msid) finds it under VB365's name.
        #expect(try world.onboarding().findOrganization(done)?.id == done.organizationId)
    }

    @Test("the same name (in another case) is not reported as another name")
    func sameName() throws {
        let world = try World(.v8)
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: try #require(started.userCode))
        let done = try world.onboarding().resume(try TenantID("contoso"))
        #expect(done.state == .onboarded)
        #expect(done.vb365OrganizationName == nil)
    }

    @Test("a server message that ends with a period does not end the error with two")
    func noDoubledPeriod() throws {
        let world = try World(.v8) { $0.windowsServer2016 = true }
        world.profile = .modern
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: try #require(started.userCode))
        let record = try world.onboarding().resume(try TenantID("contoso"))
        let failure = try #require(record.failure)
        #expect(failure.serverMessage?.hasSuffix(".") == true, "the simulator's message ends with a period")
        #expect(failure.reason.hasSuffix(".") && !failure.reason.hasSuffix(".."), "\(failure.reason)")
    }

    @Test("Sentence.end adds a period only when none is there")
    func sentence() {
        #expect(Sentence.end("done") == "done.")
        #expect(Sentence.end("done.") == "done.")
        #expect(Sentence.end("done?") == "done?")
        #expect(Sentence.end("done. \n") == "done.")
    }
}
