public import CertVaultCore

/// An invitation: a link the operator sends to a customer so that the customer's administrator can
/// onboard the tenant (or sign in for a certificate rotation) on the portal's pages.
///
/// This is what the store keeps of it and what may be shown and logged: the link's secret part
/// exists only in the operator's hands (see ``InvitationStore``); the store keeps a keyed hash.
public struct Invitation: Codable, Sendable, Hashable {
    /// What the invitation is for.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The tenant's first onboarding (intake form, device-code sign-in, organization added).
        case onboarding
        /// A certificate rotation that needs the administrator's sign-in (`configureApplication`).
        case renewal
    }

    /// Where the invitation is in its life. An expired invitation stays `active` in the store;
    /// ``isUsable(now:)`` tells.
    public enum Status: String, Codable, Sendable {
        /// Created and neither completed nor revoked.
        case active
        /// The onboarding (or rotation) it was sent for has finished.
        case completed
        /// Revoked by an operator.
        case revoked
    }

    /// How long after completion the "done" page still answers: 15 minutes.
    public static let completedGraceSeconds: Int64 = 900

    /// The accessor: 16 lower-case hex digits, safe to show and log (the link holds it too).
    public var id: String
    /// The tenant the invitation is bound to.
    public var tenant: TenantID
    /// What it is for.
    public var kind: Kind
    /// The customer's name as the operator gave it.
    public var displayName: String?
    /// When it was created (seconds since 1970, UTC).
    public var createdAt: Int64
    /// When it stops working (seconds since 1970, UTC).
    public var expiresAt: Int64
    /// Who created it: a token accessor or `cli:<user>`.
    public var createdBy: String
    /// Active, completed or revoked.
    public var status: Status
    /// When it was completed, if it was.
    public var completedAt: Int64?
    /// When it was revoked, if it was.
    public var revokedAt: Int64?

    /// Creates the description of an invitation (the store makes them; tests and views may too).
    public init(
        id: String, tenant: TenantID, kind: Kind, displayName: String?, createdAt: Int64, expiresAt: Int64,
        createdBy: String, status: Status = .active, completedAt: Int64? = nil, revokedAt: Int64? = nil
    ) {
        self.id = id
        self.tenant = tenant
        self.kind = kind
        self.displayName = displayName
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.createdBy = createdBy
        self.status = status
        self.completedAt = completedAt
        self.revokedAt = revokedAt
    }

    /// Whether the pages may be used at `now`: active and not expired.
    public func isUsable(now: Int64) -> Bool { status == .active && now < expiresAt }

    /// Completed less than ``completedGraceSeconds`` (900) ago: only the "done" page shows.
    public func showsDonePage(now: Int64) -> Bool {
        guard status == .completed, let completedAt else { return false }
        return now < completedAt + Invitation.completedGraceSeconds
    }

    /// Whether it is past its expiry at `now` (whatever its status).
    public func isExpired(now: Int64) -> Bool { now >= expiresAt }

    /// The state to show an operator: `active`, `expired`, `completed` or `revoked`.
    public func displayState(now: Int64) -> String {
        status == .active && isExpired(now: now) ? "expired" : status.rawValue
    }
}
