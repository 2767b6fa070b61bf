internal import CertVaultVB365
internal import Hummingbird

/// The simulator's router: the front-door middleware (body, faults, recording; see
/// ``ExchangeMiddleware``), the control surface under `/_simulator`, and the VB365 API of the
/// version served under `/vN`, where every route but `token` needs a bearer token. Paths are
/// matched without regard to case, as VB365 (ASP.NET) does.
func buildSimulatorRouter(state: SimulatorState) -> Router<SimulatorRequestContext> {
    let router = Router(context: SimulatorRequestContext.self, options: .caseInsensitive)
    router.add(middleware: ExchangeMiddleware(state: state))
    ControlController(state: state).addRoutes(to: router.group("_simulator"))

    let api = router.group(RouterPath(state.version.rawValue))
    TokenController(state: state).addRoutes(to: api)
    let authenticated = api.group().add(middleware: VB365AuthenticationMiddleware(state: state))
    ServiceInstanceController(state: state).addRoutes(to: authenticated)
    DeviceCodeController(state: state).addRoutes(to: authenticated)
    OrganizationsController(state: state).addRoutes(to: authenticated)
    return router
}
