public import CertVaultCore

/// What one authenticated caller may do: the scopes of its token (or of the access policy the token
/// is bound to) and the tenants it covers. The service resolves a presented token to a grant once per
/// request and filters every read of tenant data through ``covers(_:)``.
public struct AccessGrant: Sendable, Hashable {
    /// The token's public identifier (for `token list` / `token revoke` and the audit log). Never secret.
    public let accessor: String
    /// The token's human name.
    public let name: String
    /// The scopes granted.
    public let scopes: Set<Scope>
    /// The tenants covered; `nil` means every tenant.
    public let tenants: TenantSelector?

    public init(accessor: String, name: String, scopes: Set<Scope>, tenants: TenantSelector?) {
        self.accessor = accessor
        self.name = name
        self.scopes = scopes
        self.tenants = tenants
    }

    /// Whether the grant includes `scope`.
    public func permits(_ scope: Scope) -> Bool { scopes.contains(scope) }

    /// Whether the grant covers `tenant`. A tenant not covered must look exactly like one that does
    /// not exist (404), never like a forbidden one.
    public func covers(_ tenant: TenantID) -> Bool { tenants?.matches(tenant) ?? true }
}

/// A set of tenants: exact ids and patterns with one trailing `*` (`eu-*`).
public struct TenantSelector: Sendable, Hashable, CustomStringConvertible {
    /// The exact ids.
    public let exact: Set<TenantID>
    /// The prefixes of the `prefix*` patterns.
    public let prefixes: [String]

    /// Parses entries such as `contoso` and `eu-*`. A `*` anywhere but at the end, or an entry that is
    /// neither a tenant id nor a prefix of one, is an error.
    public init(_ entries: [String]) throws {
        var exact = Set<TenantID>()
        var prefixes: [String] = []
        for entry in entries {
            if entry.hasSuffix("*") {
                let prefix = String(entry.dropLast())
                guard !prefix.contains("*"), prefix.isEmpty || (try? TenantID(prefix + "x")) != nil else {
                    throw CertVaultError(
                        .invalidInput,
                        "Invalid tenant pattern \(DisplayText.escapingControls(entry, limit: 80)).",
                        hint: "Use a tenant id (contoso) or a prefix of one followed by one '*' (eu-*)."
                    )
                }
                prefixes.append(prefix)
            } else {
                exact.insert(try TenantID(entry))
            }
        }
        self.exact = exact
        self.prefixes = prefixes.sorted()
    }

    /// Whether `tenant` is one of the exact ids or starts with one of the prefixes.
    public func matches(_ tenant: TenantID) -> Bool {
        exact.contains(tenant) || prefixes.contains { tenant.rawValue.hasPrefix($0) }
    }

    public var description: String {
        (exact.map(\.rawValue).sorted() + prefixes.map { $0 + "*" }).joined(separator: ",")
    }
}
