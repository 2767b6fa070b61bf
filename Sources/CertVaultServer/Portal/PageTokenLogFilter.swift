public import Hummingbird
public import Logging

/// Keeps invitation tokens out of the request log: Hummingbird's `LogRequestsMiddleware` logs the
/// whole URI, and the customer's pages carry the token in the path (`/onboard/TOKEN/...`). Requests
/// below `/onboard/` are logged here with the token replaced; every other request by `inner`.
public struct PageTokenLogFilter<Context: RequestContext>: RouterMiddleware {
    let inner: LogRequestsMiddleware<Context>
    let level: Logger.Level

    /// Wraps the request log of `level`.
    public init(_ inner: LogRequestsMiddleware<Context>, level: Logger.Level) {
        self.inner = inner
        self.level = level
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let path = request.uri.path
        guard path.hasPrefix("/onboard/") else { return try await inner.handle(request, context: context, next: next) }
        context.logger.log(
            level: level, "Request",
            metadata: ["hb.request.method": "\(request.method)", "hb.request.path": "\(Self.redacted(path))"])
        return try await next(request, context)
    }

    /// `/onboard/TOKEN/sign-in` -> `/onboard/[token]/sign-in`.
    static func redacted(_ path: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 2 { parts[2] = "[token]" }
        return parts.joined(separator: "/")
    }
}
