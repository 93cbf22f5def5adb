/** Models (marketing): every model and its current version, each opening the editor. */
import { ErrorBox, Loading, useLoad } from "../components";
import { useConsole } from "../context";
import { epochDate } from "../format";
import { modelHref } from "../routes";

export function ModelsPage() {
  const { api } = useConsole();
  const loaded = useLoad(() => api.models(), []);
  return (
    <section data-testid="page-models" aria-labelledby="models-title">
      <h1 id="models-title">Models</h1>
      <ErrorBox error={loaded.error} />
      {loaded.loading && !loaded.value && <Loading what="the models" />}
      {loaded.value && (
        <table class="rows">
          <caption class="visually-hidden">Published models</caption>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Current version</th>
              <th scope="col">Published</th>
            </tr>
          </thead>
          <tbody>
            {loaded.value.models.map((model) => (
              <tr key={model.id} data-testid="model-row">
                <td data-label="Model">
                  <a href={modelHref(model.id)}>{model.id}</a>
                </td>
                <td data-label="Current version">{model.version}</td>
                <td data-label="Published">{epochDate(model.published_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
