public import CertVaultCore
import CertVaultOnboarding
import CertVaultVB365
import CertVaultVault
public import Hummingbird
import Logging

/// Turns every error a route throws into `application/problem+json`: a ``Problem`` as it is, a
/// ``CertVaultError`` mapped by its code, Hummingbird's own `HTTPError`s (404 for an unknown route,
/// 413 for a body over the cap, 400 for malformed JSON) with a stable code, and anything else as a
/// logged 500 whose body says nothing about the cause.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return try problem.response(from: request, context: context)
        } catch let error as CertVaultError {
            return try Problem(error, status: ProblemMiddleware.status(for: error.code))
                .response(from: request, context: context)
        } catch let error as VB365Error {
            context.logger.warning(
                "a VB365 call failed",
                metadata: ["code": "\(error.error.code.name)", "status": "\(error.status.map(String.init) ?? "none")"])
            return try Problem(error.error, status: error.error.code == .onboardingState ? .conflict : .badGateway)
                .response(from: request, context: context)
        } catch let error as HTTPError {
            return try ProblemMiddleware.problem(for: error).response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            // NIO's "too many bytes" from collecting a body over the cap (413), among others.
            return try ProblemMiddleware.problem(for: HTTPError(error.status)).response(from: request, context: context)
        } catch {
            context.logger.error("request failed with an unexpected error", metadata: ["error": "\(type(of: error))"])
            return try Problem(
                .internalServerError, code: "internal-error",
                detail: "The service failed while handling this request.",
                hint: "Try again; if it persists, the service's log has the cause."
            )
            .response(from: request, context: context)
        }
    }

    /// The HTTP status for a library error code: input errors are 400, missing things 404, and
    /// everything else 500 (its text is still safe to show).
    public static func status(for code: CertVaultError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidTenantID, .invalidPolicy, .invalidInput, .invalidPassword, .missingTemplateValue,
            .invalidSubject:
            return .badRequest
        case .alreadyExists, .onboardingState:
            return .conflict
        case .notFound:
            return .notFound
        case .vaultLocked, .vaultMissing, .storageUnavailable:
            return .serviceUnavailable
        default:
            return .internalServerError
        }
    }

    static func problem(for error: HTTPError) -> Problem {
        switch error.status {
        case .notFound:
            return Problem(
                .notFound, code: "not-found", detail: "There is no such resource.",
                hint: "See /openapi.json for the routes of this API.")
        case .contentTooLarge:
            return Problem(
                .contentTooLarge, code: "body-too-large", detail: "The request body is larger than this service accepts.",
                hint: "Send a smaller body; the limit is the configuration's max_request_body_bytes.")
        case .methodNotAllowed:
            return Problem(
                .methodNotAllowed, code: "method-not-allowed", detail: "This route does not take that method.",
                hint: "See /openapi.json for the routes of this API.", headers: error.headers)
        case .unsupportedMediaType:
            return Problem(
                .unsupportedMediaType, code: "unsupported-media-type", detail: "The request body is not application/json.",
                hint: "Send the body as JSON with 'Content-Type: application/json'.")
        case .badRequest:
            return Problem(
                .badRequest, code: "bad-request", detail: "The request could not be read.",
                hint: "Send JSON that matches the route's schema in /openapi.json.")
        default:
            return Problem(error.status, code: "http-\(error.status.code)", detail: error.status.reasonPhrase + ".")
        }
    }
}
