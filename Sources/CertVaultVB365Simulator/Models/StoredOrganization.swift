internal import CertVaultVB365

/// An organization as the simulator keeps it (and writes it to the store file).
struct StoredOrganization: Codable {
    var organization: VB365Organization
    /// SHA-1 thumbprint of the certificate last accepted.
    var thumbprint: String
    /// How many certificates it has been given (1 after POST, +1 per PUT with a certificate).
    var certificateGenerations: Int
}
