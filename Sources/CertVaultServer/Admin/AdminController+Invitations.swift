import Hummingbird

extension AdminController {
    /// The invitation pages: built once the invitation store has landed.
    func addInvitationRoutes(to router: Router<CertVaultRequestContext>) {}
}
