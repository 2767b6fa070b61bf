import CertVaultAccess
import CertVaultCore
import CertVaultVB365
import CertVaultOnboarding
import Hummingbird
import Logging

/// A refusal or failure as the dashboard shows it: an HTML page whose section has a stable id
/// (`forbidden`, `not-found`, `csrf-refused`, `failed`...), what was wrong and what to do.
struct AdminProblem: Sendable {
    var id: String
    var status: HTTPResponse.Status
    var heading: String
    var detail: String
    var hint: String?
    var back: String = "/admin"
    var backLabel: String = "Back to the dashboard"
}

extension AdminController {
    /// 403 `#forbidden`: the token lacks the scope the action needs.
    static func forbidden(_ scope: Scope) -> AdminProblem {
        AdminProblem(
            id: "forbidden", status: .forbidden, heading: "Not allowed with this token",
            detail: "The token you signed in with does not grant the scope \(scope.rawValue), which this page or action needs.",
            hint: "Sign in with a token that has \(scope.rawValue), or add the scope to the token's access policy.")
    }

    /// 403 `#csrf-refused`: a form without this session's token (sent from another page or an old one).
    static func csrfRefused(back: String) -> AdminProblem {
        AdminProblem(
            id: "csrf-refused", status: .forbidden, heading: "The form could not be accepted",
            detail: "The form did not carry this session's form token, so it may not have come from this dashboard. Nothing was done.",
            hint: "Go back, reload the page and send the form again.", back: back, backLabel: "Back")
    }

    /// 404 `#not-found` for a tenant outside the grant, exactly as for one that does not exist.
    static func notFound(_ problem: Problem) -> AdminProblem {
        AdminProblem(id: "not-found", status: .notFound, heading: "Not found", detail: problem.detail, hint: problem.hint)
    }

    /// The page of a problem.
    func errorPage(_ problem: AdminProblem, caller: AdminCaller?, headers: HTTPFields = [:]) -> Response {
        let values: [String: Any?] = [
            "id": problem.id, "status": Int(problem.status.code), "heading": problem.heading, "detail": problem.detail,
            "hint": problem.hint, "back": problem.back, "backLabel": problem.backLabel,
        ]
        let page = pages.render(
            "admin_error", values.compactMapValues { $0 },
            frame: .init(title: problem.heading, page: "problem", provider: provider, caller: caller))
        return AdminPages.html(page, status: problem.status, headers: headers)
    }

    /// The page of an error a handler threw: a ``Problem`` or a library error with its own words,
    /// anything else as a logged 500 that says nothing about the cause.
    func errorPage(for error: any Error, caller: AdminCaller?, logger: Logger) -> Response {
        let problem: Problem
        switch error {
        case let error as Problem:
            problem = error
        case let error as CertVaultError:
            problem = Problem(error, status: ProblemMiddleware<CertVaultRequestContext>.status(for: error.code))
        case let error as VB365Error:
            logger.warning("a VB365 call from the dashboard failed", metadata: ["code": "\(error.error.code.name)"])
            problem = Problem(error.error, status: error.error.code == .onboardingState ? .conflict : .badGateway)
        case let error as HTTPError:
            problem = ProblemMiddleware<CertVaultRequestContext>.problem(for: error)
        case let error as any HTTPResponseError:
            problem = ProblemMiddleware<CertVaultRequestContext>.problem(for: HTTPError(error.status))
        default:
            logger.error("dashboard request failed with an unexpected error", metadata: ["error": "\(type(of: error))"])
            problem = Problem(
                .internalServerError, code: "internal-error", detail: "The service failed while handling this request.",
                hint: "Try again; if it persists, the service's log has the cause.")
        }
        if problem.status == .notFound { return errorPage(Self.notFound(problem), caller: caller) }
        return errorPage(
            AdminProblem(
                id: "failed", status: problem.status, heading: "That did not work", detail: problem.detail, hint: problem.hint),
            caller: caller)
    }
}
