public import CertVaultAccess
import CertVaultCore
public import Hummingbird
import Logging

/// Authenticates `Authorization: Bearer cvt_...` on the routes that need a token: the token is
/// copied into ``SecretBytes`` (never logged, never in an error), resolved by the
/// ``TokenAuthority`` on the blocking pool, and the grant put into the context. A missing header
/// is 401 `token-missing`; an unknown, expired or revoked token is 401 `token-invalid`; both carry
/// `WWW-Authenticate: Bearer`. Scopes and tenants are checked per route (``APIRoute``).
public struct TokenAuthenticationMiddleware: RouterMiddleware {
    public typealias Context = CertVaultRequestContext

    let tokens: any TokenAuthority
    let work: BlockingWork
    let clock: @Sendable () -> Int64

    /// The longest `Authorization` value looked at; longer ones are invalid tokens.
    static let maximumHeaderLength = 1024

    public init(tokens: any TokenAuthority, work: BlockingWork, clock: @escaping @Sendable () -> Int64) {
        self.tokens = tokens
        self.work = work
        self.clock = clock
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let value = request.headers[.authorization] else { throw Problem.tokenMissing }
        guard let token = Self.bearerToken(value) else { throw Problem.tokenInvalid }
        let tokens = self.tokens
        let now = clock()
        guard let grant = try await work.run({ try tokens.grant(for: token, now: now) }) else { throw Problem.tokenInvalid }
        var context = context
        context.identity = grant
        context.logger[metadataKey: "token"] = .string(grant.accessor)
        return try await next(request, context)
    }

    /// The token of a `Bearer` credential (scheme case-insensitive, RFC 7235), as secret bytes.
    static func bearerToken(_ header: String) -> SecretBytes? {
        let bytes = header.utf8
        guard bytes.count > 7, bytes.count <= maximumHeaderLength else { return nil }
        let scheme = bytes.prefix(7)
        guard String(decoding: scheme, as: UTF8.self).lowercased() == "bearer " else { return nil }
        var start = bytes.index(bytes.startIndex, offsetBy: 7)
        while start < bytes.endIndex && bytes[start] == UInt8(ascii: " ") { start = bytes.index(after: start) }
        var end = bytes.endIndex
        while end > start && bytes[bytes.index(before: end)] == UInt8(ascii: " ") { end = bytes.index(before: end) }
        let token = bytes[start..<end]
        guard !token.isEmpty, token.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        let count = token.count
        return SecretBytes(count: count) { out in
            var offset = 0
            for byte in token {
                out[offset] = byte
                offset += 1
            }
        }
    }
}

/// Sets the body cap of every request from the configuration (`[limits] max_request_body_bytes`).
public struct BodyLimitMiddleware: RouterMiddleware {
    public typealias Context = CertVaultRequestContext
    let maximum: Int

    public init(maximum: Int) { self.maximum = maximum }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var context = context
        context.maxUploadSize = maximum
        return try await next(request, context)
    }
}
