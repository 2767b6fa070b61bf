internal import Foundation

/// An access token the simulator issued at `POST token`.
struct IssuedAccessToken {
    let user: String
    var expiresAt: Date
    /// Issued to a v7/v8 login without `disable_antiforgery_token=true`: later calls need the
    /// antiforgery header a browser would send.
    let needsAntiforgery: Bool
}
