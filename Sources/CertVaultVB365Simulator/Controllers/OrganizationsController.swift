internal import CertVaultVB365
internal import Foundation
internal import Hummingbird

/// `GET`, `POST /vN/Organizations` and `GET`, `PUT /vN/Organizations/{id}`: Microsoft 365
/// organizations added with a signed-in device code and a certificate VB365 can open, listed
/// (paged on v8), read and updated (a new certificate, `configureApplication`).
struct OrganizationsController {
    let state: SimulatorState

    func addRoutes(to group: RouterGroup<SimulatorRequestContext>) {
        group.get("Organizations") { _, context in list(context) }
        group.post("Organizations") { request, context in add(request, context) }
        group.get("Organizations/:id") { _, context in get(try context.parameters.require("id")) }
        group.put("Organizations/:id") { request, context in update(try context.parameters.require("id"), request, context) }
    }

    private var errors: RESTErrors { state.errors }

    func list(_ context: SimulatorRequestContext) -> VB365Answer {
        let version = state.version
        var list = state.withStorage { storage in storage.order.compactMap { storage.organizations[$0]?.organization } }
        guard version.pagesOrganizations else {
            return VB365Answer(status: 200, body: .array(list.map(Self.encode)))
        }
        let query = context.target.query
        if let msid = query["msid"] {
            list = list.filter { $0.msid?.lowercased() == msid.lowercased() }
        }
        guard let offset = Int(query["offset"] ?? "0"), offset >= 0, let limit = Int(query["limit"] ?? "30"), limit >= 0 else {
            return errors.invalid("offset and limit must be non-negative integers.")
        }
        let page = Array(list.dropFirst(offset).prefix(limit))
        return VB365Answer(status: 200, body: .object([
            "offset": .number(Double(offset)), "limit": .number(Double(limit)), "setId": .string(UUID().uuidString.lowercased()),
            "results": .array(page.map(Self.encode)),
            "_links": .object(["self": .object(["href": .string("/\(version.rawValue)/Organizations?offset=\(offset)&limit=\(limit)")])]),
        ]))
    }

    func get(_ id: String) -> VB365Answer {
        guard let stored = state.withStorage({ $0.organizations[id.lowercased()] }) else { return notFound(id) }
        return VB365Answer(status: 200, body: Self.encode(stored.organization))
    }

    func add(_ request: Request, _ context: SimulatorRequestContext) -> VB365Answer {
        do {
            return try addChecked(request, context)
        } catch {
            return error.answer
        }
    }

    private func addChecked(_ request: Request, _ context: SimulatorRequestContext) throws(VB365Refusal) -> VB365Answer {
        let configuration = state.configuration
        let body = try decode(request, context)
        guard body.type == .office365 else {
            throw errors.refusal("type must be Office365 for a Microsoft 365 organization (got \(body.type?.rawValue ?? "nothing")).")
        }
        guard let region = body.region else { throw errors.refusal("region is required.") }
        guard let officeName = body.officeName, !officeName.isEmpty else { throw errors.refusal("officeName is required.") }
        guard let userCode = body.userCode, !userCode.isEmpty else {
            throw errors.refusal("userCode is required to add an organization with a new application.")
        }
        guard let newApplicationName = body.newApplicationName, !newApplicationName.isEmpty else {
            throw errors.refusal("newApplicationName is required when no applicationId is given.")
        }
        let services = [body.isExchangeOnline, body.isSharePointOnline, body.isTeamsOnline, body.isTeamsChatsOnline].compactMap { $0 }
        guard services.contains(true) else { throw errors.refusal("At least one service (Exchange, SharePoint, Teams) must be selected.") }
        if let actual = configuration.tenantRegions[officeName.lowercased()], actual != region {
            throw errors.refusal("Failed to connect to the organization \(officeName) in region \(region.rawValue): the tenant is in region \(actual.rawValue).")
        }
        try checkCode(userCode, region: region)
        let thumbprint = try validation.thumbprint(of: body)
        return try state.withStorage { (storage) throws(VB365Refusal) -> VB365Answer in
            if storage.organizations.values.contains(where: { $0.organization.officeName?.lowercased() == officeName.lowercased() }) {
                throw VB365Refusal(answer: errors.answer(400, "Organization \(officeName) has already been added.", code: "OperationConflict"))
            }
            guard var code = storage.deviceCodes[userCode], !code.used else {
                throw errors.refusal("The user code '\(userCode)' has already been used; request a new device code.")
            }
            code.used = true
            storage.deviceCodes[userCode] = code
            let stored = newOrganization(body, officeName: officeName, region: region, thumbprint: thumbprint)
            let id = stored.id!
            storage.organizations[id] = StoredOrganization(organization: stored, thumbprint: thumbprint, certificateGenerations: 1)
            storage.order.append(id)
            state.saveStore(storage)
            return VB365Answer(status: configuration.version.organizationCreatedStatus, body: Self.encode(stored))
        }
    }

    /// The organization as VB365 stores it: a new application with the certificate's thumbprint,
    /// never the certificate or its password.
    private func newOrganization(_ body: VB365Organization, officeName: String, region: VB365Region, thumbprint: String) -> VB365Organization {
        let configuration = state.configuration
        let id = UUID().uuidString.lowercased()
        let applicationId = UUID().uuidString.lowercased()
        let storedName = configuration.organizationNames[officeName.lowercased()] ?? officeName
        var stored = VB365Organization(id: id, name: storedName, officeName: storedName, type: .office365, region: region)
        stored.isExchangeOnline = body.isExchangeOnline ?? false
        stored.isSharePointOnline = body.isSharePointOnline ?? false
        stored.isTeamsOnline = body.isTeamsOnline ?? false
        stored.isTeamsChatsOnline = body.isTeamsChatsOnline ?? false
        stored.isBackedup = false
        let settings = VB365ConnectionSettings(useApplicationOnlyAuth: true, officeOrganizationName: officeName, applicationId: applicationId,
                                               applicationCertificateThumbprint: thumbprint)
        if stored.isExchangeOnline == true || stored.isTeamsOnline == true { stored.exchangeOnlineSettings = settings }
        if stored.isSharePointOnline == true { stored.sharePointOnlineSettings = settings }
        if configuration.version.hasMicrosoftTenantID { stored.msid = Identifiers.stableUUID(officeName.lowercased()) }
        stored.links = ["self": VB365Link(href: "/\(configuration.version.rawValue)/Organizations/\(id)")]
        return stored
    }

    func update(_ id: String, _ request: Request, _ context: SimulatorRequestContext) -> VB365Answer {
        do {
            return try updateChecked(id, request, context)
        } catch {
            return error.answer
        }
    }

    private func updateChecked(_ id: String, _ request: Request, _ context: SimulatorRequestContext) throws(VB365Refusal) -> VB365Answer {
        let body = try decode(request, context)
        guard let existing = state.withStorage({ $0.organizations[id.lowercased()] }) else { throw VB365Refusal(answer: notFound(id)) }
        if let type = body.type, type != .office365 { throw errors.refusal("type must be Office365.") }
        if body.configureApplication == true {
            guard let userCode = body.userCode else { throw errors.refusal("configureApplication needs a userCode signed in by a Global Administrator.") }
            try checkCode(userCode, region: existing.organization.region ?? .worldwide)
            if state.withStorage({ $0.deviceCodes[userCode]?.used == true }) {
                throw errors.refusal("The user code '\(userCode)' has already been used; request a new device code.")
            }
        }
        var thumbprint = existing.thumbprint
        var newCertificate = false
        if body.exchangeOnlineSettings?.applicationCertificate != nil || body.sharePointOnlineSettings?.applicationCertificate != nil {
            thumbprint = try validation.thumbprint(of: body)
            newCertificate = true
        }
        return try state.withStorage { (storage) throws(VB365Refusal) -> VB365Answer in
            guard var stored = storage.organizations[id.lowercased()] else { throw VB365Refusal(answer: notFound(id)) }
            if body.configureApplication == true, let userCode = body.userCode { storage.deviceCodes[userCode]?.used = true }
            stored.thumbprint = thumbprint
            if newCertificate { stored.certificateGenerations += 1 }
            for keyPath in [\VB365Organization.exchangeOnlineSettings, \VB365Organization.sharePointOnlineSettings] {
                stored.organization[keyPath: keyPath]?.applicationCertificateThumbprint = thumbprint
            }
            if let flag = body.isTeamsOnline { stored.organization.isTeamsOnline = flag }
            if let flag = body.isTeamsChatsOnline { stored.organization.isTeamsChatsOnline = flag }
            storage.organizations[id.lowercased()] = stored
            state.saveStore(storage)
            return VB365Answer(status: 204)
        }
    }

    // MARK: Checks

    private var validation: CertificateValidation {
        CertificateValidation(errors: errors, windowsServer2016: state.configuration.windowsServer2016)
    }

    private func decode(_ request: Request, _ context: SimulatorRequestContext) throws(VB365Refusal) -> VB365Organization {
        guard request.header("content-type")?.lowercased().hasPrefix("application/json") == true else {
            throw VB365Refusal(answer: errors.answer(415, "The body must be application/json."))
        }
        do {
            return try JSONDecoder().decode(VB365Organization.self, from: Data(context.body))
        } catch {
            throw errors.refusal("The request body is not a valid RestOrganizationComposed: \(Identifiers.describe(error)).")
        }
    }

    /// The user code exists, is signed in, has not expired, and was issued for this region.
    private func checkCode(_ userCode: String, region: VB365Region) throws(VB365Refusal) {
        guard let code = state.withStorage({ $0.deviceCodes[userCode] }) else { throw errors.refusal("The user code '\(userCode)' is not known.") }
        guard code.expiresAt > Date() else { throw errors.refusal("The user code '\(userCode)' has expired; request a new device code.") }
        guard code.signedIn else {
            throw errors.refusal("The user code '\(userCode)' has not been used to sign in yet; the Global Administrator must sign in at the verification URL first.")
        }
        guard code.region == region else {
            throw errors.refusal("The user code was issued for region \(code.region.rawValue), but the organization is in \(region.rawValue).")
        }
    }

    private func notFound(_ id: String) -> VB365Answer {
        errors.notFound("Organization with ID '\(id)' was not found.")
    }

    /// The organization as VB365 returns it (`JSONEncoder` leaves out what is nil).
    static func encode(_ organization: VB365Organization) -> JSONValue {
        guard let data = try? JSONEncoder().encode(organization), let value = try? JSONDecoder().decode(JSONValue.self, from: data) else { return .null }
        return value
    }
}
