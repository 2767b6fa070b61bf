internal import CertVaultCore

/// What a caller of the service may do. A token or an access policy grants a set of scopes; every
/// route names the one scope it needs. Unknown scope names are errors, never ignored.
public enum Scope: String, CaseIterable, Sendable, Hashable, Codable, Comparable {
    /// Tenant metadata: generations, status, expiry, thumbprints, VB365 ids, onboarding state.
    case tenantsRead = "tenants:read"
    /// Issue the next certificate generation of a tenant.
    case certificatesIssue = "certificates:issue"
    /// Rotate a tenant's certificate in VB365.
    case certificatesRotate = "certificates:rotate"
    /// Start onboardings and renew their device codes.
    case onboardingWrite = "onboarding:write"
    /// Read onboarding state.
    case onboardingRead = "onboarding:read"
    /// The restore credential: the PFX and its password. Every read is audited.
    case credentialsRead = "credentials:read"
    /// The vault's audit log.
    case auditRead = "audit:read"
    /// Create, list and revoke tokens.
    case tokensAdmin = "tokens:admin"

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Parses a scope name, or throws an error that lists the known ones.
    public static func parse(_ name: String) throws -> Scope {
        if let scope = Scope(rawValue: name) { return scope }
        throw CertVaultError(
            .invalidInput,
            "Unknown scope \(DisplayText.escapingControls(name, limit: 64)).",
            hint: "Use one of: \(Scope.allCases.map(\.rawValue).joined(separator: ", "))."
        )
    }
}
