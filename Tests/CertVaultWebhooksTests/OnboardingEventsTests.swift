import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import Foundation
import Testing

@testable import CertVaultWebhooks

@Suite("Onboarding events", .serialized,
       .enabled(if: ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired, "python3 is not installed"))
struct OnboardingEventsTests {
    static func record(_ state: OnboardingRecord.State) throws -> OnboardingRecord {
        let intake = OnboardingRecord.Intake(tenant: try TenantID("fabrikam"), displayName: "Fabrikam Ltd", officeName: "fabrikam.onmicrosoft.com",
                                             providerFields: ["invitation": "https://portal.example/onboard/cvi_0123456789abcdef_SECRETPART"])
        var record = OnboardingRecord(intake: intake, serverURL: "https://vb365.example:4443", now: "2026-12-01T10:00:00Z")
        record.userCode = "QWERTY-ASDF"
        record.verificationUrl = "https://microsoft.com/devicelogin"
        record.codeExpiresAt = "2026-12-01T10:15:00Z"
        record.organizationId = "1b2c3d4e-0000-0000-0000-000000000001"
        record.generation = 2
        record.thumbprint = "A1B2C3"
        // Failure has no public initializer: made as the store reads it.
        record.failure = try JSONDecoder().decode(OnboardingRecord.Failure.self, from: Data(#"""
            {"reason": "VB365 refused the organization.", "hint": "Check the region.", "status": 400,
             "serverMessage": "raw text with pfx password hunter2", "errorCode": "bad-region", "at": "2026-12-01T10:05:00Z"}
            """#.utf8))
        record.move(to: state, "test", at: "2026-12-01T10:05:00Z")
        return record
    }

    @Test("the worker's outcomes map to completed, failed and code_expired; the states in between to nothing")
    func mapping() throws {
        #expect(OnboardingEvents.afterStep(try Self.record(.onboarded), now: 0)?.kind == .onboardingCompleted)
        #expect(OnboardingEvents.afterStep(try Self.record(.failed), now: 0)?.kind == .onboardingFailed)
        #expect(OnboardingEvents.afterStep(try Self.record(.expired), now: 0)?.kind == .onboardingCodeExpired)
        #expect(OnboardingEvents.afterStep(try Self.record(.awaitingCustomer), now: 0) == nil)
        #expect(OnboardingEvents.afterStep(try Self.record(.addingOrganization), now: 0) == nil)
        let completed = try #require(OnboardingEvents.afterStep(try Self.record(.onboarded), now: 0))
        #expect(completed.data["organizationId"] == "1b2c3d4e-0000-0000-0000-000000000001")
        #expect(completed.data["generation"] == "2")
        #expect(completed.tenant?.rawValue == "fabrikam")
        let failed = try #require(OnboardingEvents.afterStep(try Self.record(.failed), now: 0))
        #expect(failed.data["reason"] == "VB365 refused the organization.")
        #expect(failed.data["hint"] == "Check the region.")
        let issued = OnboardingEvents.codeIssued(try Self.record(.awaitingCustomer), now: 0)
        #expect(issued.kind == .onboardingCodeIssued)
        #expect(issued.data["codeExpiresAt"] == "2026-12-01T10:15:00Z")
    }

    @Test("no delivered body and no outbox file holds the signing key, the device code, a password or an invitation link")
    func noSecrets() throws {
        let world = try DeliveryWorld()
        let receiver = try world.receiver("ok")
        let outbox = try world.outbox([receiver.url])
        let deliverer = try world.deliverer(outbox)
        try outbox.record(OnboardingEvents.codeIssued(try Self.record(.awaitingCustomer), now: UTCTime.now()))
        for state in [OnboardingRecord.State.onboarded, .failed, .expired] {
            try outbox.record(try #require(OnboardingEvents.afterStep(try Self.record(state), now: UTCTime.now())))
        }
        let files = PrivateFiles.names(in: outbox.pendingPath).compactMap { FileManager.default.contents(atPath: "\(outbox.pendingPath)/\($0)") }
        #expect(files.count == 4)
        #expect(deliverer.deliverDue().count == 4)
        let bodies = try receiver.requests().map(\.body)
        #expect(bodies.count == 4)
        let secrets = [DeliveryWorld.keyText, "QWERTY-ASDF", "hunter2", "cvi_", "SECRETPART", "/onboard/"]
        for text in bodies + files.map({ String(decoding: $0, as: UTF8.self) }) {
            for secret in secrets {
                #expect(!text.contains(secret), "\(secret) leaked")
            }
        }
        #expect(bodies.contains { $0.contains("fabrikam.onmicrosoft.com") }, "the bodies were really checked")
    }
}
