/// The VB365 REST API versions certvault speaks.
///
/// The differences that matter to onboarding (from the official OpenAPI descriptions):
/// v7 and v8 take `disable_antiforgery_token` in the token call, v6 does not know it;
/// `GET Organizations` answers an array in v6 and v7 and a page object (with an `msid` filter)
/// in v8; `POST Organizations` answers 200 in v6 and v7 and 201 in v8.
public enum VB365APIVersion: String, CaseIterable, Sendable, Codable, Comparable {
    case v6, v7, v8

    /// Newest first: the order in which detection probes.
    public static let newestFirst: [VB365APIVersion] = [.v8, .v7, .v6]

    /// Whether the token call takes `disable_antiforgery_token`.
    public var hasAntiforgeryToken: Bool { self != .v6 }

    /// Whether `GET Organizations` answers a page object rather than an array.
    public var pagesOrganizations: Bool { self == .v8 }

    /// The status of a successful `POST Organizations`.
    public var organizationCreatedStatus: Int { self == .v8 ? 201 : 200 }

    /// Whether organizations carry `msid` (the Microsoft tenant id).
    public var hasMicrosoftTenantID: Bool { self == .v8 }

    public static func < (lhs: VB365APIVersion, rhs: VB365APIVersion) -> Bool { lhs.rawValue < rhs.rawValue }
}
