public import Hummingbird
import Logging

/// Turns every error of a page route into an HTML page with ``SecurityHeaders`` (never
/// problem+json): 404 (and anything that means "no such thing") is ``PageRenderer/notFoundPage``,
/// a body over the cap 413, anything else a logged 500 that says nothing about the cause.
///
/// It is added to the router (inside the API's ``ProblemMiddleware``, so that ProblemMiddleware never
/// sees a page's error) and acts on paths below its `prefixes` only: the router's "no such route" for
/// `/onboard/anything/else` passes through it too, which a route group's middleware never sees.
public struct PageErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let renderer: PageRenderer
    let prefixes: [String]

    /// Pages below `prefixes` (such as `["/onboard/", "/assets/"]`) answer errors in HTML.
    public init(renderer: PageRenderer, prefixes: [String]) {
        self.renderer = renderer
        self.prefixes = prefixes
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let path = request.uri.path
        guard prefixes.contains(where: { path.hasPrefix($0) || path + "/" == $0 }) else {
            return try await next(request, context)
        }
        do {
            return try await next(request, context)
        } catch let refusal as PageRefusal {
            return PageResponse.html(refusal.page, status: refusal.status)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            return PageResponse.html(renderer.notFoundPage, status: .notFound)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            return PageResponse.html(
                renderer.errorPage(
                    elementID: "error", title: "Too much text", heading: "That was more text than this page accepts",
                    message: "Go back, shorten what you typed and send it again."),
                status: .contentTooLarge)
        } catch let error as any HTTPResponseError where error.status == .methodNotAllowed {
            return PageResponse.html(renderer.notFoundPage, status: .notFound)
        } catch {
            context.logger.error("a page failed with an unexpected error", metadata: ["error": "\(type(of: error))"])
            return PageResponse.html(Self.failurePage(renderer), status: .internalServerError)
        }
    }

    /// The page of an unexpected failure.
    static func failurePage(_ renderer: PageRenderer) -> String {
        renderer.errorPage(
            elementID: "error", title: "Something went wrong", heading: "Something went wrong on our side",
            message: "Nothing you did caused this. Try again in a few minutes.")
    }
}
