import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
public import Hummingbird
public import Logging

/// The customer's pages (`/onboard/{token}...`) and the pages' assets (`/assets/...`).
///
/// Every response carries ``SecurityHeaders``; every error is an HTML page (``PageErrorMiddleware``);
/// every link that is not (or no longer) valid gets the same 404 bytes.
public struct PortalController: Sendable {
    let services: AppServices
    let renderer: PageRenderer
    let logo: PageAsset?
    let csrf: CSRFProvider
    let logger: Logger
    /// When each renewal's sign-in was last checked with VB365 (at most once per poll interval).
    let rotationChecks = RotationChecks()

    /// Reads the logo (a missing one is logged and left out) and parses the templates.
    public init(services: AppServices, logger: Logger) {
        self.services = services
        self.logger = logger
        var logo: PageAsset?
        do {
            logo = try PageAssets.logo(settings: services.configuration.portal)
        } catch {
            logger.error("\(error)")
        }
        self.logo = logo
        do {
            renderer = try PageRenderer(settings: services.configuration.portal, logo: logo)
        } catch {
            // The templates are compiled in; the tests render every one.
            preconditionFailure("a portal template does not parse: \(error)")
        }
        csrf = CSRFProvider(vault: services.vault)
    }

    /// Adds the routes.
    public func addRoutes(to router: Router<CertVaultRequestContext>) {
        // Added before the pages' routes, so it wraps them and the router's "no such route".
        router.add(
            middleware: PageErrorMiddleware<CertVaultRequestContext>(renderer: renderer, prefixes: ["/onboard/", "/assets/"]))
        router.get("assets/{name}") { request, context in
            let name = try context.parameters.require("name")
            if name == "logo", let logo { return logo.response(to: request) }
            guard name != "logo", let asset = PageAssets.embedded[name] else { throw HTTPError(.notFound) }
            return asset.response(to: request)
        }
        addCustomerRoutes(to: router.group("onboard"))
    }
}
