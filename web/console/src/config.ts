/** The console's settings, read from config.json beside index.html. */

export interface Config {
  /** The API's origin ("" when it shares the console's). */
  api: string;
  region: string;
  userPoolId: string;
  clientId: string;
  /** Where InitiateAuth is posted: Cognito's regional endpoint, or moto's locally. */
  cognitoEndpoint: string;
}

export async function loadConfig(): Promise<Config> {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json could not be read (HTTP ${response.status})`);
  const config = (await response.json()) as Partial<Config>;
  for (const key of ["clientId", "cognitoEndpoint"] as const) {
    if (!config[key]) throw new Error(`config.json has no ${key}`);
  }
  return { api: "", region: "", userPoolId: "", ...config } as Config;
}
