internal import CertVaultVB365
internal import Foundation
internal import Hummingbird

/// `POST /vN/DeviceCode` (a random user code and Microsoft's device-login page for the region)
/// and `POST /vN/DeviceCode/check` (`{"authenticated": bool}`; 400 for an unknown or expired code).
/// The customer's sign-in comes from the control surface or after ``VB365Simulator/Configuration/signInAfter``.
struct DeviceCodeController {
    let state: SimulatorState

    func addRoutes(to group: RouterGroup<SimulatorRequestContext>) {
        group.post("DeviceCode") { _, context in create(context) }
        group.post("DeviceCode/check") { _, context in check(context) }
    }

    func create(_ context: SimulatorRequestContext) -> VB365Answer {
        let errors = state.errors
        let version = state.version
        let options: VB365DeviceCodeRequest
        do {
            options = context.body.isEmpty ? VB365DeviceCodeRequest(targetRegion: nil)
                : try JSONDecoder().decode(VB365DeviceCodeRequest.self, from: Data(context.body))
        } catch {
            return errors.invalid("The request body is not a valid RESTCommonDeviceCodeRequestOptions: \(Identifiers.describe(error)).")
        }
        if options.loginGraphAppOrganizationId != nil && version != .v8 {
            return errors.invalid("loginGraphAppOrganizationId is not known in \(version.rawValue).")
        }
        let region = options.targetRegion ?? .worldwide
        let code = Identifiers.randomUserCode()
        let lifetime = state.configuration.deviceCodeLifetime
        state.withStorage { storage in
            storage.deviceCodes[code] = SimulatedDeviceCode(code: code, region: region, expiresAt: Date().addingTimeInterval(Double(lifetime)),
                                                            signedIn: false, used: false)
        }
        if let after = state.configuration.signInAfter {
            DispatchQueue.global().asyncAfter(deadline: .now() + after) { [weak state] in _ = state?.signIn(userCode: code) }
        }
        // Microsoft's device-login pages per cloud, as the client checks them (VB365DeviceLogin).
        let url = switch region {
        case .china: "https://microsoft.com/deviceloginchina"
        case .usGovernment, .usDefence: "https://microsoft.com/deviceloginus"
        default: "https://microsoft.com/devicelogin"
        }
        return VB365Answer(status: 200, body: .object([
            "userCode": .string(code), "verificationUrl": .string(url), "expiresIn": .number(Double(lifetime)),
            "message": .string("To sign in, use a web browser to open the page \(url) and enter the code \(code) to authenticate."),
        ]))
    }

    func check(_ context: SimulatorRequestContext) -> VB365Answer {
        let errors = state.errors
        guard let check = try? JSONDecoder().decode(VB365DeviceCodeCheckRequest.self, from: Data(context.body)) else {
            return errors.invalid("userCode is required.")
        }
        guard let code = state.withStorage({ $0.deviceCodes[check.userCode] }) else {
            return errors.invalid("The user code '\(check.userCode)' is not known.")
        }
        guard code.expiresAt > Date() else { return errors.invalid("The user code '\(check.userCode)' has expired; request a new device code.") }
        return VB365Answer(status: 200, body: .object(["authenticated": .bool(code.signedIn)]))
    }
}
