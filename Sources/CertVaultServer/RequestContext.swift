public import CertVaultAccess
public import Hummingbird
public import HummingbirdAuth
public import NIOCore

/// The per-request context of the service: Hummingbird's core storage, the caller's grant once the
/// bearer token has been checked, and the body cap from the configuration.
public struct CertVaultRequestContext: AuthRequestContext, RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller, or `nil` before authentication (or for public routes).
    public var identity: AccessGrant?
    /// The largest body a route may collect; larger ones answer 413.
    public var maxUploadSize: Int
    /// The TCP peer (nil in router tests); the dashboard limits failed sign-ins per address.
    public let remoteAddress: SocketAddress?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.identity = nil
        self.maxUploadSize = CertVaultRequestContext.defaultMaxUploadSize
    }

    /// The default body cap (1 MiB); the application's middleware sets the configured one.
    public static let defaultMaxUploadSize = 1 << 20
}
