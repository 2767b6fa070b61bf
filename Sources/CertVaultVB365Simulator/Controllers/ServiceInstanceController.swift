internal import CertVaultVB365
internal import Hummingbird

/// `GET /vN/ServiceInstance`: the installation id and the product version of the API served
/// (401 without a token, which version detection relies on).
struct ServiceInstanceController {
    let state: SimulatorState

    func addRoutes(to group: RouterGroup<SimulatorRequestContext>) {
        group.get("ServiceInstance") { _, _ in serviceInstance() }
    }

    func serviceInstance() -> VB365Answer {
        let versionText = ["v6": "6.1.0.222", "v7": "7.1.0.1401", "v8": "8.1.0.331"][state.version.rawValue] ?? "8.1.0.331"
        return VB365Answer(status: 200, body: .object(["installationId": .string(state.installationId), "version": .string(versionText)]))
    }
}
