import { EMULATOR_CREDENTIALS } from '@shoal/local-stack';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * An AWS SDK client config for an endpoint (the emulators): HTTP/1.1, which kinesalite needs,
 * a default region, and dummy credentials unless the environment has some. Without an endpoint
 * or region the SDK's defaults apply (the region and credentials of the environment, as on AWS).
 * `base` (a config file's client settings) is kept underneath.
 */
export function awsClientConfig(endpoint: string | undefined, region: string | undefined, base?: object): object | undefined {
  if (endpoint === undefined && region === undefined) return base;
  const credentials = process.env.AWS_ACCESS_KEY_ID ? {} : { credentials: { ...EMULATOR_CREDENTIALS } };
  return {
    ...base,
    ...(region === undefined ? {} : { region }),
    ...(endpoint === undefined
      ? {}
      : { endpoint, requestHandler: new NodeHttpHandler(), ...(region === undefined ? { region: 'us-east-1' } : {}), ...credentials }),
  };
}
