internal import CertVaultVB365
internal import Foundation

/// A device code the simulator handed out, and what the customer did with it.
struct SimulatedDeviceCode {
    let code: String
    let region: VB365Region
    var expiresAt: Date
    var signedIn: Bool
    var used: Bool
}
