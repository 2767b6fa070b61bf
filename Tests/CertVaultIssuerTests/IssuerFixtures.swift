import CertVaultCore
import CertVaultIssuer
import CertVaultPolicy
import CertVaultTesting
import Foundation
import Logging
import Testing

/// Helpers shared by the issuer suites.
enum Fixtures {
    static let logger = Logger(label: "certvault.tests") { _ in SwiftLogNoOpLogHandler() }

    static func policy(_ name: String = "default", _ change: (inout IssuancePolicy) -> Void = { _ in }) throws -> IssuancePolicy {
        var policy = try PolicyLoader.load(path: TestEnvironment.policy(name))
        change(&policy)
        return policy
    }

    static func issue(_ tenant: String = "contoso", org: String? = "Contoso", policy: IssuancePolicy? = nil,
                      password: String? = nil) throws -> IssuedCredential {
        let issuer = Issuer(policy: try policy ?? Fixtures.policy(), logger: logger)
        var request = IssuanceRequest(tenant: try TenantID(tenant), org: org)
        if let password { request.suppliedPassword = secret(password) }
        return try issuer.issue(request)
    }

    static func secret(_ text: String) -> SecretBytes {
        Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) }
    }

    static func text(_ secret: SecretBytes) -> String {
        secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes the credential's PFX and PEM into a temporary folder for the external tools.
    static func files(_ credential: IssuedCredential, in dir: TemporaryDirectory) throws -> (pfx: String, pem: String) {
        (try dir.write("c.pfx", bytes: credential.pfx), try dir.write("c.pem", credential.certificatePEM))
    }

    /// The condition and comment for tests that need an external tool: skipped where it is
    /// missing, except in CI, where `CERTVAULT_REQUIRE_TOOLS=1` makes them run (and fail).
    static func needs(_ tool: ExternalTool) -> ConditionTrait {
        .enabled(if: tool.isAvailable || TestEnvironment.toolsRequired, "\(tool.name) is not installed")
    }
}
