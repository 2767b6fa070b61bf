public import CertVaultCore
public import CertVaultIssuer
public import CertVaultVB365
internal import Foundation

/// A simulator of the part of the VB365 REST API (v6, v7, v8) that onboarding uses, following
/// the official OpenAPI descriptions: token (password and refresh grants), DeviceCode,
/// DeviceCode/check, Organizations (GET, POST, PUT), ServiceInstance; each version's status
/// codes and shapes; `RESTExceptionInfo` errors.
///
/// It plays the customer too: a device code counts as signed in when the control surface says
/// so (``signIn(userCode:)``, `POST /_simulator/sign-in`), after ``Configuration/signInAfter``,
/// or never. It opens every PFX it receives with the given password and checks the key, as
/// VB365 must to use it.
///
/// The control surface (`/_simulator/...`, and the same methods in Swift) injects faults, delays
/// and dropped connections and lists what was received, with secrets redacted. It has no
/// authentication: the simulator listens on loopback for tests and demos only.
///
/// It is a Hummingbird application (see `Server/Application+build.swift`) served on an event
/// loop of its own, so that synchronous code (tests, the CLI) can start and stop it and can
/// block while it answers.
public final class VB365Simulator: @unchecked Sendable {
    /// What it serves and how it behaves.
    public let configuration: Configuration
    /// The TLS identity (nil for plain HTTP): its certificate is the client's CA file.
    public let identity: TLSServerIdentity?
    private let state: SimulatorState
    private let server: SimulatorServer

    /// Creates a simulator listening on `host:port` (0: any free port), over TLS with a fresh
    /// certificate from our issuer unless `tls` is false.
    ///
    /// - Throws: `CertVaultError` when the certificate cannot be made or the store file is not
    ///   valid.
    public init(configuration: Configuration = .init(), host: String = "127.0.0.1", port: Int = 0, tls: Bool = true) throws {
        self.configuration = configuration
        if tls {
            let hosts = host == "127.0.0.1" || host == "::1" ? ["localhost", "127.0.0.1", "::1"] : ["localhost", host]
            identity = try TLSServerIdentity.makeSelfSigned(commonName: "VB365 simulator", hosts: hosts)
        } else {
            identity = nil
        }
        state = try SimulatorState(configuration: configuration)
        server = try SimulatorServer(state: state, host: host, port: port, identity: identity)
    }

    deinit { server.stop() }

    /// Starts listening; returns once the port is bound.
    ///
    /// - Throws: `CertVaultError` (`vb365-simulator`) when the address cannot be bound.
    public func start() throws { try server.start() }

    /// Stops listening and closes every connection, also those waiting for a delayed answer.
    public func stop() { server.stop() }

    /// `https://127.0.0.1:PORT` (`http` for plain HTTP, `[::1]` for IPv6).
    public var baseURL: String { server.baseURL }

    /// The port listened on, known once ``start()`` returned.
    public var port: Int { server.port }

    // MARK: Control surface

    /// The customer's step: marks a user code as signed in. False when the code is unknown.
    @discardableResult
    public func signIn(userCode: String) -> Bool { state.signIn(userCode: userCode) }

    /// The next `count` calls of `endpoint` (such as `POST Organizations`, `GET Organizations/{id}`,
    /// `POST token`, or `*`) answer `status` with a `RESTExceptionInfo` body, without processing.
    public func failNext(_ endpoint: String, status: Int, count: Int = 1) {
        state.addFault(endpoint, Fault(kind: .status(status), remaining: count))
    }

    /// The next `count` calls of `endpoint` are processed, then the connection is closed without
    /// an answer (or, with `truncate`, after half the answer).
    public func dropAfterProcessing(_ endpoint: String, count: Int = 1, truncate: Bool = false) {
        state.addFault(endpoint, Fault(kind: truncate ? .truncateAfterProcessing : .dropAfterProcessing, remaining: count))
    }

    /// The next `count` calls of `endpoint` answer 200 with a body that is not JSON, or with
    /// `oversized` bytes of JSON padding.
    public func corruptNext(_ endpoint: String, count: Int = 1, oversized: Int? = nil) {
        state.addFault(endpoint, Fault(kind: oversized.map { .oversizedResponse($0) } ?? .malformedResponse, remaining: count))
    }

    /// The next `count` calls of `endpoint` answer `status` with exactly `body`, unprocessed: a
    /// hostile or broken server (numbers out of range, control characters, wrong shapes).
    public func respondNext(_ endpoint: String, status: Int, body: [UInt8], count: Int = 1) {
        state.addFault(endpoint, Fault(kind: .rawResponse(status, body), remaining: count))
    }

    /// The next `count` calls of `endpoint` answer `status` with the request body, as received,
    /// as the error message: a server that echoes secrets back.
    public func echoRequestNext(_ endpoint: String, status: Int = 400, count: Int = 1) {
        state.addFault(endpoint, Fault(kind: .echoRequest(status), remaining: count))
    }

    /// The next `count` calls of `GET Organizations` (v8) answer a full page, never the end;
    /// with `repeating`, always the same first page.
    public func endlessPages(repeating: Bool, count: Int = Int.max) {
        state.addFault("GET Organizations", Fault(kind: .endlessPages(repeating: repeating), remaining: count))
    }

    /// Every answer of `endpoint` waits `seconds` (0 removes the delay).
    public func delay(_ endpoint: String, seconds: Double) { state.setDelay(endpoint, seconds: seconds) }

    /// Makes every access token issued so far expire now.
    public func expireTokens() { state.expireTokens() }

    /// Makes every device code handed out so far expire now (the customer took too long).
    public func expireDeviceCodes() { state.expireDeviceCodes() }

    /// What was received so far, secrets redacted.
    public func received() -> [SimulatorExchange] { state.withStorage { $0.exchanges } }

    /// The organizations stored, in the order they were added.
    public func storedOrganizations() -> [VB365Organization] {
        state.withStorage { storage in storage.order.compactMap { storage.organizations[$0]?.organization } }
    }

    /// Changes the certificate thumbprint VB365 reports for an organization behind certvault's
    /// back (as an administrator changing it in VB365 would). False when the organization is unknown.
    @discardableResult
    public func replaceThumbprint(organizationId: String, with thumbprint: String) -> Bool {
        state.replaceThumbprint(organizationId: organizationId, with: thumbprint)
    }

    /// Deletes an organization behind certvault's back. False when it is unknown.
    @discardableResult
    public func deleteOrganization(id: String) -> Bool { state.deleteOrganization(id: id) }

    /// How many certificates an organization has been given.
    public func certificateGenerations(organizationId: String) -> Int? {
        state.withStorage { $0.organizations[organizationId]?.certificateGenerations }
    }

    /// All device codes handed out, newest last.
    public func issuedUserCodes() -> [String] {
        state.withStorage { $0.deviceCodes.values.sorted { $0.expiresAt < $1.expiresAt }.map(\.code) }
    }
}

extension CertVaultError.Code {
    /// The VB365 simulator could not start or serve (address in use, TLS identity refused).
    public static let vb365Simulator = CertVaultError.Code("vb365-simulator")
}
