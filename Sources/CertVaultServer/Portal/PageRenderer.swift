public import CertVaultConfiguration
import Foundation
import Mustache

/// Renders the portal's and the dashboard's pages from the Mustache templates compiled into the
/// binary, inside the shared layout (`layout.mustache`).
///
/// Built once at start. `{{name}}` is HTML-escaped by swift-mustache (`< > & " '`); the templates
/// never use the unescaped `{{{name}}}` or `{{& name}}` for data, so anything a customer typed or
/// VB365 answered shows as text.
///
/// A page template extends the layout:
/// ```
/// {{<layout}}{{$content}} ...the page... {{/content}}{{/layout}}
/// ```
/// and may fill `{{$head}}` (extra `<meta>` elements). The layout reads, besides the page's own
/// values: `title`, `provider.name`, `provider.logo` (the logo's URL, absent without one),
/// `provider.contact`, `stylesheets` and `scripts` (URLs, default the portal's), `refreshSeconds`
/// (a `<meta http-equiv="refresh">` when set), `bodyClass`.
public struct PageRenderer: Sendable {
    /// Every template by name (the file name without `.mustache`). The dashboard's join here.
    static let templates: [(name: String, bytes: [UInt8])] = [
        ("layout", PackageResources.layout_mustache),
        ("error_page", PackageResources.error_page_mustache),
        ("onboard_welcome", PackageResources.onboard_welcome_mustache),
        ("onboard_renewal", PackageResources.onboard_renewal_mustache),
        ("onboard_sign_in", PackageResources.onboard_sign_in_mustache),
        ("onboard_done", PackageResources.onboard_done_mustache),
    ]

    private let library: MustacheLibrary
    /// The portal's settings (provider name, contact...).
    public let settings: ServiceConfiguration.PortalSettings
    /// The logo's URL when there is a logo.
    public let logoURL: String?
    /// The bytes of the 404 page, rendered once: every invalid link gets exactly these.
    public private(set) var notFoundPage = ""

    /// Parses every template.
    ///
    /// - Throws: a template that does not parse (a defect of the build, caught by the tests).
    public init(settings: ServiceConfiguration.PortalSettings, logo: PageAsset? = nil) throws {
        var library = MustacheLibrary()
        for template in Self.templates {
            try library.register(String(decoding: template.bytes, as: UTF8.self), named: template.name)
        }
        self.library = library
        self.settings = settings
        self.logoURL = logo?.url
        self.notFoundPage = render(
            "error_page",
            [
                "title": "Link not valid", "elementID": "not-found", "heading": "This link is not valid",
                "message": "The link may have expired, been replaced or already been used.",
                "askContact": true,
            ])
    }

    /// The values every page's layout reads.
    var layoutValues: [String: Any] {
        var provider: [String: Any] = ["name": settings.providerName]
        if let logoURL { provider["logo"] = logoURL }
        if let contact = settings.contact, !contact.isEmpty { provider["contact"] = contact }
        return [
            "provider": provider,
            "stylesheets": [PageAssets.embedded["portal.css"]!.url],
            "scripts": [PageAssets.embedded["portal.js"]!.url],
        ]
    }

    /// Renders `template` with `values` over the layout's values (a page's value wins).
    public func render(_ template: String, _ values: [String: Any]) -> String {
        let merged = layoutValues.merging(values) { _, page in page }
        guard let text = library.render(merged, withTemplate: template) else {
            preconditionFailure("no template named \(template)")
        }
        return text
    }

    /// An error page: `elementID` is the main section's id (`not-found`, `forbidden`, `error`...).
    public func errorPage(elementID: String, title: String, heading: String, message: String) -> String {
        render(
            "error_page",
            ["title": title, "elementID": elementID, "heading": heading, "message": message, "askContact": true])
    }
}
