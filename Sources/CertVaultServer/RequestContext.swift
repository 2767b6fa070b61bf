public import CertVaultAccess
public import Hummingbird
public import HummingbirdAuth

/// The per-request context of the service: Hummingbird's core storage, the caller's grant once the
/// bearer token has been checked, and the body cap from the configuration.
public struct CertVaultRequestContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller, or `nil` before authentication (or for public routes).
    public var identity: AccessGrant?
    /// The largest body a route may collect; larger ones answer 413.
    public var maxUploadSize: Int

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.maxUploadSize = CertVaultRequestContext.defaultMaxUploadSize
    }

    /// The default body cap (1 MiB); the application's middleware sets the configured one.
    public static let defaultMaxUploadSize = 1 << 20
}
