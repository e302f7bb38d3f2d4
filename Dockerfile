# The inlet broker. Built by docker-compose.yml; data lives in /var/lib/inlet.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bench ./bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
ENV INLET_HOST=0.0.0.0 INLET_PORT=8080 INLET_DATA_DIR=/var/lib/inlet
VOLUME /var/lib/inlet
EXPOSE 8080
USER node
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve"]
