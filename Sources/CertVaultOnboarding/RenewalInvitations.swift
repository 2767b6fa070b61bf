public import CertVaultCore

/// Where the ``RenewalScheduler`` gets a renewal invitation for a tenant whose rotation needs the
/// customer. The service implements it over the portal's invitation store; without the portal
/// there is none, and the tenant stays `renewal-due` until the operator rotates it.
public protocol RenewalInvitations: Sendable {
    /// The id of a usable renewal invitation for the tenant at `now`: `existing` when it is still
    /// usable, else a new one (created by `renewal-scheduler`). Never returns the invitation's link
    /// or token.
    ///
    /// - Throws: when the invitation store cannot be read or written (the pass notes it and goes on).
    func ensureRenewalInvitation(tenant: TenantID, displayName: String?, existing: String?, now: Int64) throws -> String
}

/// A ``RenewalInvitations`` made of a closure (tests, and the service's adapter).
public struct RenewalInvitationsClosure: RenewalInvitations {
    let body: @Sendable (TenantID, String?, String?, Int64) throws -> String

    /// - Parameter body: `(tenant, displayName, existing invitation id, now) -> invitation id`.
    public init(_ body: @escaping @Sendable (TenantID, String?, String?, Int64) throws -> String) {
        self.body = body
    }

    public func ensureRenewalInvitation(tenant: TenantID, displayName: String?, existing: String?, now: Int64) throws -> String {
        try body(tenant, displayName, existing, now)
    }
}
