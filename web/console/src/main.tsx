/** The console's entry point: reads config.json, then shows the app. */
import { render } from "preact";
import { App } from "./app";
import { loadConfig } from "./config";
import "uplot/dist/uPlot.min.css";
import "./app.css";

const root = document.getElementById("app");
if (root) {
  loadConfig().then(
    (config) => {
      root.textContent = ""; // the "Loading" placeholder of index.html
      render(<App config={config} />, root);
    },
    (error: Error) => {
      root.innerHTML = "";
      const message = document.createElement("p");
      message.className = "error";
      message.setAttribute("role", "alert");
      message.textContent = `The console cannot start: ${error.message}`;
      root.append(message);
    },
  );
}
