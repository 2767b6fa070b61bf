public import CertVaultAccess
public import CertVaultCore
import Foundation
public import Hummingbird

/// One route of the API: its method, path, the scope it needs and where its tenant comes from,
/// with the handler. The list of routes (``APIRoutes/all``) both registers the routes
/// (``buildRouter(services:logger:extraRoutes:)``) and drives the authorization table test, so a
/// route cannot be added without being checked for 401, 403 and 404.
///
/// Authorization happens here, before the handler runs, in this order: no grant on a protected
/// route: 401; a grant without ``scope``: 403; a path tenant that is not a valid id: 400
/// `invalid-tenant-id`; a path tenant the grant does not cover: 404 `tenant-not-found`, the very
/// answer a tenant that does not exist gets. Routes whose tenant is in the body check it with
/// ``RouteInput/requireCovered(_:)``; list routes filter by the grant where they read.
public struct APIRoute: Sendable {
    /// Where the route's tenant comes from.
    public enum TenantBinding: String, Sendable, Hashable {
        /// The route is about no single tenant (lists filter by the grant).
        case none
        /// `{tenant}` in the path.
        case path
        /// `tenant` in the JSON body.
        case body
    }

    /// The handler: the request, its context, and the checked input.
    public typealias Handler = @Sendable (Request, CertVaultRequestContext, RouteInput) async throws -> Response

    public let method: HTTPRequest.Method
    /// The path in Hummingbird's form, `{tenant}` for the tenant.
    public let path: String
    /// The scope the route needs; `nil` for public routes (health, readiness, the OpenAPI document).
    public let scope: Scope?
    public let tenant: TenantBinding
    /// The OpenAPI operation id.
    public let operationID: String
    let handler: Handler

    public init(
        _ method: HTTPRequest.Method, _ path: String, scope: Scope?, tenant: TenantBinding = .none,
        operationID: String, handler: @escaping Handler
    ) {
        self.method = method
        self.path = path
        self.scope = scope
        self.tenant = tenant
        self.operationID = operationID
        self.handler = handler
    }

    /// Checks the caller against the route, then runs the handler.
    func respond(_ request: Request, _ context: CertVaultRequestContext, services: AppServices) async throws -> Response {
        var input = RouteInput(services: services, grant: context.identity, tenant: nil)
        if let scope {
            guard let grant = context.identity else { throw Problem.tokenMissing }
            guard grant.permits(scope) else { throw Problem.scopeMissing(scope.rawValue) }
        }
        if tenant == .path {
            let tenant = try RouteInput.tenant(fromPath: try context.parameters.require("tenant"))
            try input.requireCovered(tenant)
            input.tenant = tenant
        }
        return try await handler(request, context, input)
    }
}

/// What a handler gets besides the request: the services, the caller's grant and the route's tenant.
public struct RouteInput: Sendable {
    public let services: AppServices
    /// The caller's grant; `nil` only on public routes.
    public let grant: AccessGrant?
    /// The path's tenant, checked and covered by the grant (routes with ``APIRoute/TenantBinding/path``).
    public internal(set) var tenant: TenantID?

    /// The path tenant (routes bound to a path tenant always have one).
    func pathTenant() throws -> TenantID {
        guard let tenant else { throw Problem(.internalServerError, code: "internal-error", detail: "The route has no tenant.") }
        return tenant
    }

    /// 404 `tenant-not-found` unless the grant covers `tenant`: exactly the answer for a tenant
    /// that does not exist.
    public func requireCovered(_ tenant: TenantID) throws {
        if let grant, !grant.covers(tenant) { throw Problem.tenantNotFound(tenant.rawValue) }
    }

    /// Whether the grant covers `tenant` (public routes see nothing tenant-specific).
    func covers(_ tenant: TenantID) -> Bool { grant?.covers(tenant) ?? false }

    /// A tenant id from a path segment (percent-decoded first, so `..%2F..%2Fetc` is checked as
    /// `../../etc`): 400 `invalid-tenant-id` when it is not a valid id.
    static func tenant(fromPath raw: String) throws -> TenantID {
        let decoded = raw.removingPercentEncoding ?? raw
        do {
            return try TenantID(decoded)
        } catch let error as CertVaultError {
            throw Problem(error, status: .badRequest)
        }
    }
}
