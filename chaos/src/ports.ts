export { acceptsConnections as accepts, freeLoopbackPort as freePort, waitUntilAccepting } from '@shoal/local-stack';
