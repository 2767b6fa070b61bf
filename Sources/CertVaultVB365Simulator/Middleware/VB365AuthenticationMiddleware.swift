internal import Hummingbird

/// Every call but `POST token` needs a bearer token the simulator issued, not expired, with the
/// antiforgery header when its login did not switch that off; else 401 `RESTExceptionInfo`.
struct VB365AuthenticationMiddleware: RouterMiddleware {
    typealias Context = SimulatorRequestContext
    let state: SimulatorState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let denied = state.authenticate(authorization: request.header("authorization"), antiforgeryHeader: request.header("x-xsrf-token")) {
            return denied.response(from: request, context: context)
        }
        return try await next(request, context)
    }
}
